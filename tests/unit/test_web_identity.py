"""Web-identity federation (IRSA's AWS side) and the enforcement of its sessions' permissions on the local cloud:
helpers/localcloud/emulators/web_identity.py and iam_enforcement.py. First in-process against moto's backends with
an injected JWKS fetcher, then end to end through a started local cloud with an HTTPS OIDC issuer (its CA where the
local EKS puts its own), boto3 and the real AWS CLI."""

from __future__ import annotations

import datetime
import json
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import IPv4Address
from pathlib import Path

import boto3
import botocore.exceptions
import jwt
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from helpers.localcloud.emulators.web_identity import StsError, WebIdentity

ACCOUNT = "123456789012"
READER_SA, WRITER_SA = "source-bucket-reader-sa", "destination-bucket-writer-sa"
AWS_CLI = Path("/work/main/.venv/aws-cli/bin/aws")


def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


KEY, OTHER_KEY = rsa_key(), rsa_key()


def jwks(key, kid: str = "k1") -> dict:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**public, "kid": kid, "use": "sig", "alg": "RS256"}]}


def token(issuer: str, sa: str = READER_SA, aud: str = "sts.amazonaws.com", key=KEY, kid: str = "k1",
          expires_in: int = 3600, now: float | None = None) -> str:
    now = int(now or time.time())
    claims = {"iss": issuer, "sub": f"system:serviceaccount:mwaa:{sa}", "aud": [aud], "iat": now, "nbf": now,
              "exp": now + expires_in}
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def irsa_trust(provider_url: str, sa: str) -> dict:
    return {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/{provider_url}"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{provider_url}:sub": f"system:serviceaccount:mwaa:{sa}",
                                       f"{provider_url}:aud": "sts.amazonaws.com"}}}]}


def make_roles(iam, issuer: str, prefix: str) -> dict[str, str]:
    """The OIDC provider of `issuer` and notebook 06's two IRSA roles: role name -> ARN."""
    provider_url = issuer.removeprefix("https://")
    iam.create_open_id_connect_provider(Url=issuer, ClientIDList=["sts.amazonaws.com"], ThumbprintList=["a" * 40])
    roles = {}
    for role, sa, statements in (
            (f"{prefix}-reader", READER_SA, [
                {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": f"arn:aws:s3:::{prefix}-source"},
                {"Effect": "Allow", "Action": "ssm:GetParameter",
                 "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/{prefix}_source_bucket"}]),
            (f"{prefix}-writer", WRITER_SA, [
                {"Effect": "Allow", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{prefix}-destination/*"},
                {"Effect": "Deny", "Action": "s3:PutObject", "Resource": f"arn:aws:s3:::{prefix}-destination/secret/*"},
                {"Effect": "Allow", "Action": "ssm:GetParameter",
                 "Resource": f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/{prefix}_destination_bucket"}])):
        roles[role] = iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(irsa_trust(provider_url, sa)))[
            "Role"]["Arn"]
        iam.put_role_policy(RoleName=role, PolicyName="least-privilege",
                            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    return roles


# --- in-process: moto's backends, an injected fetcher, a controllable clock ---------------------------------------

ISSUER = "https://oidc.eks.us-east-1.amazonaws.com/id/UNITTEST"


@pytest.fixture
def federation():
    from moto import mock_aws

    documents = {f"{ISSUER}/.well-known/openid-configuration": {"issuer": ISSUER, "jwks_uri": f"{ISSUER}/keys"},
                 f"{ISSUER}/keys": jwks(KEY)}
    fetched = []

    def fetch(url):
        fetched.append(url)
        return documents[url]

    with mock_aws():
        iam = boto3.client("iam", region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        roles = make_roles(iam, ISSUER, "unit")
        web = WebIdentity(fetch=fetch)
        web.fetched, web.documents, web.roles = fetched, documents, roles
        yield web


def assume(web: WebIdentity, role: str = "unit-reader", **token_args) -> dict:
    return web.assume({"RoleArn": web.roles[role], "RoleSessionName": "pod", "WebIdentityToken": token(ISSUER, **token_args)})


def refused(web: WebIdentity, role: str = "unit-reader", **token_args) -> tuple[str, str]:
    with pytest.raises(StsError) as caught:
        assume(web, role, **token_args)
    return caught.value.code, caught.value.message


def test_the_right_token_gets_the_role_s_credentials_and_moto_knows_the_session(federation):
    result = assume(federation)
    assert result["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/unit-reader/pod"
    assert result["SubjectFromWebIdentityToken"] == f"system:serviceaccount:mwaa:{READER_SA}"
    assert result["Audience"] == "sts.amazonaws.com"
    assert result["Provider"] == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{ISSUER.removeprefix('https://')}"
    credentials = result["Credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert federation.session(credentials["AccessKeyId"]).role_arn == federation.roles["unit-reader"]
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id=credentials["AccessKeyId"],
                       aws_secret_access_key=credentials["SecretAccessKey"], aws_session_token=credentials["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == result["AssumedRoleUser"]["Arn"]
    assert federation.fetched == [f"{ISSUER}/.well-known/openid-configuration", f"{ISSUER}/keys"]
    assume(federation)
    assert len(federation.fetched) == 2  # the JWKS is cached


def test_a_token_of_another_service_account_is_refused_by_the_trust_policy(federation):
    assert refused(federation, sa=WRITER_SA) == ("AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert refused(federation, role="unit-writer") == ("AccessDenied",
                                                       "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert assume(federation, role="unit-writer", sa=WRITER_SA)["AssumedRoleUser"]["Arn"].endswith("/unit-writer/pod")
    federation.roles["unit-reader"] = f"arn:aws:iam::{ACCOUNT}:role/no-such-role"
    assert refused(federation)[0] == "AccessDenied"


def test_a_wrong_audience_unknown_issuer_or_expired_token_is_refused_as_sts_refuses_it(federation):
    assert refused(federation, aud="sts.amazon.com") == ("InvalidIdentityToken", "Incorrect token audience")
    with pytest.raises(StsError) as caught:
        federation.assume({"RoleArn": federation.roles["unit-reader"], "RoleSessionName": "pod",
                           "WebIdentityToken": token("https://elsewhere.example/id/1")})
    assert (caught.value.code, caught.value.message) == (
        "InvalidIdentityToken", "No OpenIDConnect provider found in your account for https://elsewhere.example/id/1")
    code, message = refused(federation, expires_in=-60)
    assert code == "ExpiredTokenException" and message.startswith("Token expired: current date/time ")


def test_a_bad_signature_or_garbage_is_an_invalid_identity_token(federation):
    assert refused(federation, key=OTHER_KEY)[0] == "InvalidIdentityToken"
    assert refused(federation, key=OTHER_KEY, kid="rotated")[0] == "InvalidIdentityToken"
    assert refused(federation, now=time.time() + 3600)[0] == "InvalidIdentityToken"  # not valid before (nbf) an hour
    with pytest.raises(StsError, match="could not be validated") as caught:
        federation.assume({"RoleArn": federation.roles["unit-reader"], "RoleSessionName": "pod",
                           "WebIdentityToken": "not-a-jwt"})
    assert caught.value.code == "InvalidIdentityToken"


def test_a_rotated_key_is_fetched_again_and_an_unreachable_issuer_is_reported(federation):
    assume(federation)
    federation.documents[f"{ISSUER}/keys"] = jwks(OTHER_KEY, kid="k2")
    assert assume(federation, key=OTHER_KEY, kid="k2")["AssumedRoleUser"]["Arn"].endswith("/unit-reader/pod")
    federation._jwks.clear()
    del federation.documents[f"{ISSUER}/keys"]
    code, message = refused(federation)
    assert code == "InvalidIdentityToken" and message.startswith("Couldn't retrieve verification key")


def test_only_the_sessions_it_issued_are_enforced_and_they_expire(federation):
    from werkzeug.test import Client
    from werkzeug.wrappers import Response

    from helpers.localcloud.emulators.iam_enforcement import IamEnforcement

    passed = []

    def app(environ, start_response):
        passed.append(environ["PATH_INFO"])
        return Response("ok")(environ, start_response)

    client = Client(IamEnforcement(app, federation))
    key = assume(federation)["Credentials"]["AccessKeyId"]

    def get(path, access_key):
        auth = f"AWS4-HMAC-SHA256 Credential={access_key}/20261202/us-east-1/s3/aws4_request, SignedHeaders=host, " \
               "Signature=0"
        return client.get(path, headers={"Authorization": auth})

    assert get("/unit-source", key).status_code == 200
    denied = get("/unit-destination", key)
    assert denied.status_code == 403 and b"<Code>AccessDenied</Code>" in denied.data
    assert get("/unit-destination", "testing").status_code == 200  # everyone else: unenforced
    assert passed == ["/unit-source", "/unit-destination"]
    # the unsigned GET form of the call, with a session policy narrowing the role to one prefix
    narrow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",
                                                      "Condition": {"StringLike": {"s3:prefix": "mine/*"}}}]}
    answer = client.get("/", query_string={"Action": "AssumeRoleWithWebIdentity", "Version": "2011-06-15",
                                           "RoleArn": federation.roles["unit-reader"], "RoleSessionName": "narrow",
                                           "WebIdentityToken": token(ISSUER), "Policy": json.dumps(narrow)})
    assert answer.status_code == 200 and b"<SubjectFromWebIdentityToken>system:serviceaccount:mwaa:" in answer.data
    narrow_key = answer.data.split(b"<AccessKeyId>")[1].split(b"</AccessKeyId>")[0].decode()
    assert get("/unit-source?prefix=mine/a", narrow_key).status_code == 200
    refused_by_session = get("/unit-source?prefix=other/", narrow_key)
    assert refused_by_session.status_code == 403 and b"no session policy allows the s3:ListBucket action" in \
        refused_by_session.data
    federation.clock = lambda: time.time() + 7200
    expired = get("/unit-source", key)
    assert expired.status_code == 400 and b"<Code>ExpiredToken</Code>" in expired.data


# --- end to end: a started local cloud, an HTTPS issuer, boto3 and the AWS CLI ------------------------------------


class Issuer:
    """An OIDC issuer over HTTPS on loopback (discovery document + JWKS), with a self-signed certificate."""

    def __init__(self, ca_file: Path):
        key = rsa_key()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "tests local issuer")])
        now = datetime.datetime.now(datetime.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
                .not_valid_after(now + datetime.timedelta(hours=1))
                .add_extension(x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False)
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .sign(key, hashes.SHA256()))
        ca_file.parent.mkdir(parents=True, exist_ok=True)
        with ca_file.open("ab") as bundle:  # beside the local EKS's own CA, if it made one
            bundle.write(cert.public_bytes(serialization.Encoding.PEM))
        key_file, cert_file = ca_file.with_name("tests-issuer.key"), ca_file.with_name("tests-issuer.pem")
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # the bundle starts with the EKS CA
        documents = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.server.server_address[1]}/id/E2E"
        documents["/id/E2E/.well-known/openid-configuration"] = {"issuer": self.url, "jwks_uri": f"{self.url}/keys"}
        documents["/id/E2E/keys"] = jwks(KEY)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture(scope="module")
def irsa(module_cloud):
    from helpers import localcloud
    from helpers.aws import cloud

    issuer = Issuer(module_cloud.state / "localcloud" / "eks" / "ca.pem")  # the gateway's state folder
    try:
        roles = make_roles(cloud.client("iam"), issuer.url, "e2e")
        s3, ssm = cloud.client("s3"), cloud.client("ssm")
        for bucket in ("e2e-source", "e2e-destination"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="e2e-source", Key="dummy.txt", Body=b"hello")
        for name in ("e2e_source_bucket", "e2e_destination_bucket"):
            ssm.put_parameter(Name=name, Value=name.replace("_bucket", "").replace("_", "-"), Type="SecureString")
        yield {"issuer": issuer.url, "roles": roles, "endpoint": localcloud.endpoint()}
    finally:
        issuer.server.shutdown()
        issuer.server.server_close()


def unsigned_sts(endpoint: str):
    return boto3.client("sts", region_name="us-east-1", endpoint_url=endpoint, config=Config(signature_version=UNSIGNED))


def session_for(irsa, role: str, sa: str) -> boto3.session.Session:
    answer = unsigned_sts(irsa["endpoint"]).assume_role_with_web_identity(
        RoleArn=irsa["roles"][role], RoleSessionName="pod", WebIdentityToken=token(irsa["issuer"], sa=sa))
    credentials = answer["Credentials"]
    return boto3.session.Session(aws_access_key_id=credentials["AccessKeyId"], region_name="us-east-1",
                                 aws_secret_access_key=credentials["SecretAccessKey"],
                                 aws_session_token=credentials["SessionToken"])


def error(call) -> tuple[str, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call()
    return caught.value.response["Error"]["Code"], caught.value.response["Error"]["Message"]


def test_boto3_through_the_gateway_reader_lists_its_bucket_and_nothing_else(irsa):
    session = session_for(irsa, "e2e-reader", READER_SA)
    s3, ssm = (session.client(s, endpoint_url=irsa["endpoint"]) for s in ("s3", "ssm"))
    arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/e2e-reader/pod"
    assert session.client("sts", endpoint_url=irsa["endpoint"]).get_caller_identity()["Arn"] == arn
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="e2e-source")["Contents"]] == ["dummy.txt"]
    assert error(lambda: s3.list_objects_v2(Bucket="e2e-destination")) == (
        "AccessDenied", f'User: {arn} is not authorized to perform: s3:ListBucket on resource: '
                        f'"arn:aws:s3:::e2e-destination" because no identity-based policy allows the s3:ListBucket action')
    assert error(lambda: s3.put_object(Bucket="e2e-source", Key="x", Body=b"x"))[0] == "AccessDenied"
    assert error(lambda: s3.get_object(Bucket="e2e-source", Key="dummy.txt"))[0] == "AccessDenied"
    assert ssm.get_parameter(Name="e2e_source_bucket", WithDecryption=True)["Parameter"]["Value"] == "e2e-source"
    assert error(lambda: ssm.get_parameter(Name="e2e_destination_bucket")) == (
        "AccessDeniedException", f"User: {arn} is not authorized to perform: ssm:GetParameter on resource: "
                                 f"arn:aws:ssm:us-east-1:{ACCOUNT}:parameter/e2e_destination_bucket because no "
                                 "identity-based policy allows the ssm:GetParameter action")
    code, message = error(lambda: session.client("sqs", endpoint_url=irsa["endpoint"]).list_queues())
    assert code == "AccessDeniedException" and "sqs:ListQueues" in message  # other services: action level


def test_boto3_through_the_gateway_writer_writes_where_allowed_and_an_explicit_deny_says_so(irsa):
    s3 = session_for(irsa, "e2e-writer", WRITER_SA).client("s3", endpoint_url=irsa["endpoint"])
    s3.put_object(Bucket="e2e-destination", Key="list.json", Body=b"[]")
    code, message = error(lambda: s3.put_object(Bucket="e2e-destination", Key="secret/x", Body=b"x"))
    assert code == "AccessDenied" and message.endswith(
        'on resource: "arn:aws:s3:::e2e-destination/secret/x" with an explicit deny in an identity-based policy')
    from helpers.aws import cloud

    # everyone else keeps the unenforced local cloud
    assert cloud.client("s3").get_object(Bucket="e2e-destination", Key="list.json")["Body"].read() == b"[]"


def test_sts_through_the_gateway_refuses_a_wrong_service_account_or_audience(irsa):
    sts = unsigned_sts(irsa["endpoint"])
    reader = irsa["roles"]["e2e-reader"]
    assert error(lambda: sts.assume_role_with_web_identity(
        RoleArn=reader, RoleSessionName="pod", WebIdentityToken=token(irsa["issuer"], sa=WRITER_SA))) == (
        "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
    assert error(lambda: sts.assume_role_with_web_identity(
        RoleArn=reader, RoleSessionName="pod", WebIdentityToken=token(irsa["issuer"], aud="other"))) == (
        "InvalidIdentityToken", "Incorrect token audience")


@pytest.mark.skipif(not AWS_CLI.exists(), reason="the AWS CLI venv (.venv/aws-cli) is not installed")
def test_the_aws_cli_with_a_web_identity_token_file(irsa, tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text(token(irsa["issuer"], sa=READER_SA))
    (tmp_path / "file.txt").write_text("x")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ROLE_ARN": irsa["roles"]["e2e-reader"],
           "AWS_WEB_IDENTITY_TOKEN_FILE": str(token_file), "AWS_ENDPOINT_URL": irsa["endpoint"],
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}

    def aws(*args):
        return subprocess.run([str(AWS_CLI), *args], env=env, capture_output=True, text=True, timeout=60,
                              cwd=tmp_path)

    listing = aws("s3api", "list-objects", "--bucket", "e2e-source")
    assert listing.returncode == 0, listing.stderr
    assert [o["Key"] for o in json.loads(listing.stdout)["Contents"]] == ["dummy.txt"]
    copy = aws("s3", "cp", "file.txt", "s3://e2e-destination/file.txt")
    assert copy.returncode != 0 and "AccessDenied" in copy.stderr, copy.stderr
