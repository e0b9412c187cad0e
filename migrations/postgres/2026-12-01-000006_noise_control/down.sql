DROP TABLE silences;
DROP TABLE once_per;
