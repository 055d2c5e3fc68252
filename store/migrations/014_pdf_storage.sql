-- PDFs are stored as they are, without PostgreSQL's compression: Typst writes them with their
-- streams already compressed, so pglz only spent CPU on every insert to find nothing to gain
-- (0.9 ms against 0.2 ms for a 48 KB Arabic record; bench figures in docs/benchmarks.md).
-- Applies to rows written from now on; rows stored before keep their bytes.
ALTER TABLE case_documents ALTER COLUMN pdf SET STORAGE EXTERNAL;
ALTER TABLE flyer_versions ALTER COLUMN pdf SET STORAGE EXTERNAL;
