-- One starting entry per town of Kreis Unna (Lünen included: integration offers are county-wide).
-- Contact details are maintained by admins through the CLI (`python -m starter partners ...`).
INSERT INTO partners (name, kind, town, contact, languages) VALUES
    ('AWO Migrationsberatung Bergkamen',        'wohlfahrtsverband', 'Bergkamen',        'Kontakt über das KI Kreis Unna', '{de,ar,tr}'),
    ('Caritas Flüchtlingsberatung Bönen',       'wohlfahrtsverband', 'Bönen',            'Kontakt über das KI Kreis Unna', '{de,en,fa}'),
    ('Diakonie Flüchtlingshilfe Fröndenberg',   'wohlfahrtsverband', 'Fröndenberg/Ruhr', 'Kontakt über das KI Kreis Unna', '{de,en}'),
    ('Ehrenamtskreis Asyl Holzwickede',         'ehrenamt',          'Holzwickede',      'Kontakt über das KI Kreis Unna', '{de,en,ru}'),
    ('DRK Migrationsdienst Kamen',              'wohlfahrtsverband', 'Kamen',            'Kontakt über das KI Kreis Unna', '{de,ar,ku}'),
    ('Caritas Migrationsdienst Lünen',          'wohlfahrtsverband', 'Lünen',            'Kontakt über das KI Kreis Unna', '{de,ar,tr}'),
    ('Diakonie Migrationsberatung Schwerte',    'wohlfahrtsverband', 'Schwerte',         'Kontakt über das KI Kreis Unna', '{de,en,uk,ru}'),
    ('Ehrenamtliche Flüchtlingshilfe Selm',     'ehrenamt',          'Selm',             'Kontakt über das KI Kreis Unna', '{de,en}'),
    ('Der Paritätische Unna – Rückkehrberatung','wohlfahrtsverband', 'Unna',             'Kontakt über das KI Kreis Unna', '{de,en,fr,sq}'),
    ('AWO Integrationsagentur Werne',           'wohlfahrtsverband', 'Werne',            'Kontakt über das KI Kreis Unna', '{de,ar,fa}');
