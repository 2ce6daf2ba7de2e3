-- The operator's search finds names by any part of three characters or more: FTS5 indexes
-- with the trigram tokenizer (case-insensitive) of the organisations' and products' names,
-- external-content tables kept by triggers, keyed by the tables' rowid. A match is checked
-- again against the row's name, so an index that fell behind its table (a VACUUM renumbers
-- rowids) can miss a name but never show a wrong one; the directory checks both indexes
-- against their tables when it starts and rebuilds one that differs.
CREATE VIRTUAL TABLE organisation_names USING fts5(
    legal_name, content = 'organisations', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO organisation_names (rowid, legal_name) SELECT rowid, legal_name FROM organisations;
CREATE TRIGGER organisation_names_insert AFTER INSERT ON organisations BEGIN
    INSERT INTO organisation_names (rowid, legal_name) VALUES (new.rowid, new.legal_name);
END;
CREATE TRIGGER organisation_names_delete AFTER DELETE ON organisations BEGIN
    INSERT INTO organisation_names (organisation_names, rowid, legal_name)
        VALUES ('delete', old.rowid, old.legal_name);
END;
CREATE TRIGGER organisation_names_update AFTER UPDATE OF legal_name ON organisations BEGIN
    INSERT INTO organisation_names (organisation_names, rowid, legal_name)
        VALUES ('delete', old.rowid, old.legal_name);
    INSERT INTO organisation_names (rowid, legal_name) VALUES (new.rowid, new.legal_name);
END;

CREATE VIRTUAL TABLE software_names USING fts5(
    client_name, content = 'software', content_rowid = 'rowid', tokenize = 'trigram'
);
INSERT INTO software_names (rowid, client_name) SELECT rowid, client_name FROM software;
CREATE TRIGGER software_names_insert AFTER INSERT ON software BEGIN
    INSERT INTO software_names (rowid, client_name) VALUES (new.rowid, new.client_name);
END;
CREATE TRIGGER software_names_delete AFTER DELETE ON software BEGIN
    INSERT INTO software_names (software_names, rowid, client_name)
        VALUES ('delete', old.rowid, old.client_name);
END;
CREATE TRIGGER software_names_update AFTER UPDATE OF client_name ON software BEGIN
    INSERT INTO software_names (software_names, rowid, client_name)
        VALUES ('delete', old.rowid, old.client_name);
    INSERT INTO software_names (rowid, client_name) VALUES (new.rowid, new.client_name);
END;
