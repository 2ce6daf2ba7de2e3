DROP TABLE subject_changes;
DROP TABLE stopped_subjects;
