-- The county's report to its committees (issue 15): anonymous figures that survive erasure,
-- and the reports made of them.
--
-- report_facts is written by the triggers below where the events happen (a case opened,
-- closed, reopened, suspended; a task completed; a consent signed or withdrawn; an incident
-- documented) and by store/report.py for a decision refused by the time rules (it never
-- reaches a table). A fact holds no name, no date of birth, no address, no free text: the
-- case's town, what happened (kind), the day, and enums or booleans (attributes). The case id
-- stays: it is the pseudonymous key the case row itself keeps after erasure (cases.case_id),
-- so it adds nothing that is not kept anyway, and it keeps each fact unique (source) however
-- often a step is retried. The table is not personal (store/erasure.py leaves it alone) and
-- append-only.
CREATE TABLE report_facts (
    fact_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text NOT NULL UNIQUE,  -- what it counts, e.g. 'task:<uuid>', 'case:<id>:opened'
    case_id     text NOT NULL,
    town        text NOT NULL,
    kind        text NOT NULL,
    occurred_on date NOT NULL,  -- the day in Europe/Berlin
    attributes  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX report_facts_period ON report_facts (occurred_on);

CREATE FUNCTION report_facts_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'report_facts is append-only: % refused', TG_OP;
END;
$$;
CREATE TRIGGER report_facts_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON report_facts
    FOR EACH STATEMENT EXECUTE FUNCTION report_facts_refuse_change();

-- Whether [s, e) touches the night, 22:00 to 06:00 in Europe/Berlin.
CREATE FUNCTION report_night(s timestamptz, e timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM generate_series(
            (s AT TIME ZONE 'Europe/Berlin')::date - 1,
            (e AT TIME ZONE 'Europe/Berlin')::date, interval '1 day') AS d
        WHERE (s AT TIME ZONE 'Europe/Berlin') < d + interval '30 hours'
          AND (e AT TIME ZONE 'Europe/Berlin') > d + interval '22 hours')
$$;

CREATE FUNCTION report_day(at timestamptz) RETURNS date LANGUAGE sql STABLE AS $$
    SELECT (at AT TIME ZONE 'Europe/Berlin')::date
$$;

-- One fact, with the case's town; a report being made holds the exclusive lock 7720243, so
-- every fact it does not see gets an id above the last one it saw (store/report.py).
CREATE FUNCTION report_fact(p_source text, p_case text, p_kind text, p_on date, p_attrs jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7720243);
    INSERT INTO report_facts (source, case_id, town, kind, occurred_on, attributes)
    SELECT p_source, c.case_id, c.town, p_kind, p_on, p_attrs FROM cases c
    WHERE c.case_id = p_case
    ON CONFLICT (source) DO NOTHING;
END;
$$;

-- A completed task of a case: what the report counts of it (nothing for other kinds).
CREATE FUNCTION report_task_fact(t tasks) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    c jsonb := t.completion;
BEGIN
    IF t.case_id IS NULL OR t.status <> 'completed' OR c IS NULL THEN
        RETURN;
    END IF;
    CASE t.kind
    WHEN 'information_conversation' THEN
        PERFORM report_fact('task:' || t.task_id, t.case_id, t.kind,
            COALESCE((c->>'held_on')::date, report_day(t.closed_at)),
            jsonb_build_object('in_time', NOT t.overdue AND t.closed_at <= t.due_at,
                               'perspective', c->>'perspective'));
    WHEN 'referral_consent' THEN
        PERFORM report_fact('task:' || t.task_id, t.case_id, t.kind, report_day(t.closed_at),
            jsonb_build_object('interested', (c->>'interested')::boolean));
    WHEN 'ki_contact' THEN
        PERFORM report_fact('task:' || t.task_id, t.case_id, t.kind, report_day(t.closed_at),
            jsonb_build_object('result', COALESCE(c->>'result', 'reached')));
    WHEN 'follow_up' THEN
        PERFORM report_fact('task:' || t.task_id, t.case_id, t.kind, report_day(t.closed_at),
            jsonb_build_object('reached', (c->>'reached')::boolean));
    WHEN 'escalation' THEN
        PERFORM report_fact('task:' || t.task_id, t.case_id, t.kind, report_day(t.closed_at),
            jsonb_build_object('decision', c->>'decision'));
    WHEN 'enforcement_result' THEN
        PERFORM report_fact('task:' || t.task_id, t.case_id, t.kind,
            report_day((c->>'started_at')::timestamptz),
            jsonb_build_object('result', c->>'result',
                'minors_present', (c->>'minors_present')::boolean,
                'night', report_night((c->>'started_at')::timestamptz,
                                      (c->>'ended_at')::timestamptz)));
    ELSE
        RETURN;
    END CASE;
END;
$$;

CREATE FUNCTION report_on_task() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        IF NEW.kind = 'escalation' AND NEW.case_id IS NOT NULL THEN
            PERFORM report_fact('task:' || NEW.task_id || ':opened', NEW.case_id,
                'escalation_opened', report_day(NEW.created_at), '{}');
        END IF;
    ELSIF OLD.status = 'open' AND NEW.status = 'completed' THEN
        PERFORM report_task_fact(NEW);
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER report_tasks AFTER INSERT OR UPDATE OF status ON tasks
    FOR EACH ROW EXECUTE FUNCTION report_on_task();

CREATE FUNCTION report_case_closed(c cases) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_fact('case:' || c.case_id || ':closed:' || c.closed_at::text, c.case_id,
        'case_closed', report_day(c.closed_at),
        jsonb_build_object('outcome', c.outcome, 'departure_kind', c.departure_kind));
END;
$$;

CREATE FUNCTION report_on_case() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM report_fact('case:' || NEW.case_id || ':opened', NEW.case_id, 'case_opened',
            report_day(NEW.opened_at), '{}');
        RETURN NULL;
    END IF;
    IF NEW.closed_at IS NOT NULL AND NEW.outcome IS NOT NULL
       AND NEW.closed_at IS DISTINCT FROM OLD.closed_at THEN
        PERFORM report_case_closed(NEW);
    END IF;
    IF OLD.closed_at IS NOT NULL AND NEW.closed_at IS NULL THEN
        PERFORM report_fact('case:' || NEW.case_id || ':reopened:' || NEW.updated_at::text,
            NEW.case_id, 'case_reopened', report_day(NEW.updated_at), '{}');
    END IF;
    IF NEW.stage = 'suspended' AND OLD.stage <> 'suspended' THEN
        PERFORM report_fact('case:' || NEW.case_id || ':suspended:' || NEW.updated_at::text,
            NEW.case_id, 'case_suspended', report_day(NEW.updated_at), '{}');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER report_cases AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION report_on_case();

CREATE FUNCTION report_on_consent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM report_fact('consent:' || NEW.consent_id || ':signed', NEW.case_id,
            'consent_signed', NEW.signed_on, '{}');
    END IF;
    IF NEW.withdrawn_on IS NOT NULL
       AND (TG_OP = 'INSERT' OR OLD.withdrawn_on IS NULL) THEN
        PERFORM report_fact('consent:' || NEW.consent_id || ':withdrawn', NEW.case_id,
            'consent_withdrawn', NEW.withdrawn_on, '{}');
    END IF;
    RETURN NULL;
END;
$$;
CREATE TRIGGER report_consents AFTER INSERT OR UPDATE OF withdrawn_on ON consents
    FOR EACH ROW EXECUTE FUNCTION report_on_consent();

CREATE FUNCTION report_on_incident() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM report_fact('incident:' || NEW.incident_id, NEW.case_id, 'incident',
        report_day(NEW.started_at),
        jsonb_build_object('minors_present', NEW.minors_present,
                           'night', report_night(NEW.started_at, NEW.ended_at)));
    RETURN NULL;
END;
$$;
CREATE TRIGGER report_incidents AFTER INSERT ON enforcement_incidents
    FOR EACH ROW EXECUTE FUNCTION report_on_incident();

-- What was there before: cases (their rows stay after erasure, so erased cases count with
-- their opening and closing), completed tasks whose completion is still held (one erased
-- before this migration counts no more: its completion is gone), consents, incidents.
SELECT report_fact('case:' || case_id || ':opened', case_id, 'case_opened',
    report_day(opened_at), '{}') FROM cases ORDER BY opened_at, case_id;
SELECT report_case_closed(c) FROM cases c
    WHERE closed_at IS NOT NULL AND outcome IS NOT NULL ORDER BY closed_at, case_id;
SELECT report_fact('case:' || case_id || ':suspended:' || updated_at::text, case_id,
    'case_suspended', report_day(updated_at), '{}') FROM cases WHERE stage = 'suspended';
SELECT report_fact('task:' || task_id || ':opened', case_id, 'escalation_opened',
    report_day(created_at), '{}') FROM tasks WHERE kind = 'escalation' AND case_id IS NOT NULL;
SELECT report_task_fact(t) FROM tasks t WHERE status = 'completed' ORDER BY closed_at, task_id;
SELECT report_fact('consent:' || consent_id || ':signed', case_id, 'consent_signed',
    signed_on, '{}') FROM consents;
SELECT report_fact('consent:' || consent_id || ':withdrawn', case_id, 'consent_withdrawn',
    withdrawn_on, '{}') FROM consents WHERE withdrawn_on IS NOT NULL;
SELECT report_fact('incident:' || incident_id, case_id, 'incident', report_day(started_at),
    jsonb_build_object('minors_present', minors_present,
                       'night', report_night(started_at, ended_at)))
    FROM enforcement_incidents;

-- Every report made: its period, the facts it saw (fact_id up to facts_up_to), the rules in
-- force, the digest of its raw figures, the published (suppressed) table, and its entry in
-- the audit log (audit_seq; the head it chained to is the entry before). Not personal: the
-- staff account that made it, as the audit log names it.
CREATE TABLE committee_reports (
    report_id      uuid PRIMARY KEY,
    period_from    date NOT NULL,
    period_to      date NOT NULL CHECK (period_to >= period_from),
    town           text,
    generated_at   timestamptz NOT NULL,
    generated_by   text NOT NULL,
    facts_up_to    bigint NOT NULL,
    rules_label    text NOT NULL,
    rules_digest   text NOT NULL,
    figures_digest text NOT NULL,
    published      jsonb NOT NULL,
    audit_seq      bigint NOT NULL,
    audit_head_seq bigint,
    audit_head_hash bytea
);

-- The reporting role (Berichterstattung): the committee report, nothing of the cases.
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('abh', 'ki', 'ops', 'admin', 'reporting'));
