DROP TABLE directory_cursors;
