DROP TABLE request_object_uses;
