from __future__ import annotations

from helpers.aws import cloud, s3, tags


def test_environment_bucket_as_mwaa_requires(module_cloud):
    arn = s3.create_environment_bucket("mwaa-workbook-test-env", "tests")
    assert arn == "arn:aws:s3:::mwaa-workbook-test-env"
    client = cloud.client("s3")
    assert client.get_bucket_versioning(Bucket="mwaa-workbook-test-env")["Status"] == "Enabled"
    block = client.get_public_access_block(Bucket="mwaa-workbook-test-env")["PublicAccessBlockConfiguration"]
    assert all(block.values())
    assert s3.create_environment_bucket("mwaa-workbook-test-env", "tests") == arn  # re-running is fine


def test_upload_list_and_delete_with_versions(module_cloud):
    s3.create_environment_bucket("mwaa-workbook-test-env", "tests")
    key = s3.upload_dag("mwaa-workbook-test-env", "hello_mwaa.py")
    s3.upload_dag("mwaa-workbook-test-env", "hello_mwaa.py")  # a second version
    assert key == "dags/hello_mwaa.py"
    assert s3.list_keys("mwaa-workbook-test-env", "dags/") == ["dags/", "dags/hello_mwaa.py"]
    assert s3.delete_bucket("mwaa-workbook-test-env") is True
    assert s3.delete_bucket("mwaa-workbook-test-env") is False


def test_tagged_resources_finds_buckets_queues_and_roles_of_one_notebook(module_cloud):
    s3.create_environment_bucket("mwaa-workbook-test-a", "nb_a")
    s3.create_environment_bucket("mwaa-workbook-test-b", "nb_b")
    cloud.client("sqs").create_queue(QueueName="wb-q", tags=tags.tags("nb_a"))
    cloud.client("iam").create_role(RoleName="wb-role", Path="/mwaa-workbook/", AssumeRolePolicyDocument="{}",
                                    Tags=tags.tag_list("nb_a"))
    found = set(tags.tagged_resources("nb_a").arn)
    assert found == {"arn:aws:s3:::mwaa-workbook-test-a", "arn:aws:sqs:us-east-1:123456789012:wb-q",
                     "arn:aws:iam::123456789012:role/mwaa-workbook/wb-role"}
    assert len(tags.tagged_resources()) == 4
    s3.delete_bucket("mwaa-workbook-test-a")
    assert "arn:aws:s3:::mwaa-workbook-test-a" not in set(tags.tagged_resources("nb_a").arn)


def test_resource_names_are_deterministic_per_account_and_region(module_cloud):
    assert tags.resource_name("00_getting_started", "env") == "mwaa-workbook-00-env-123456789012-us-east-1"
