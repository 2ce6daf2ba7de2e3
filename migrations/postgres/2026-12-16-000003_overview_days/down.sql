DROP TABLE overview_rolled;
DROP TABLE overview_days;
