-- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID go into the IAM role's trust relationship.
DESC INTEGRATION {{ params.storage_int_name }};
