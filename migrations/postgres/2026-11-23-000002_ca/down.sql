DROP INDEX certificates_status;
DROP TABLE crls;
