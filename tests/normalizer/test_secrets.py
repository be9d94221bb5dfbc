"""Literal-secret detection (AISPM-SEC-001) as rules-v1.md defines it, amended by rules-v2.md "SEC-001 precision"."""

from __future__ import annotations

import pytest

from aispm.normalizer.secrets import (
    REDACTED,
    env_vars,
    is_reference,
    name_words,
    secret_like_name,
    secret_reason,
    text_secrets,
    value_format_reason,
)


@pytest.mark.parametrize(("name", "value"), [
    ("ANYTHING", "AKIAIOSFODNN7EXAMPLE"),
    ("ANYTHING", "xAKIAIOSFODNN7EXAMPLEx"),          # the format applies unanchored, as specified
    ("CERT", "-----BEGIN RSA PRIVATE KEY-----\nMIIB"),
    ("X", "ghp_0123456789abcdefghijABCDEFGHIJ012345"),
    ("X", "xoxb-1234567890-abcdefghij"),
    ("X", "AIzaSyA1234567890abcdefghijklmnopqrstuv"),
    ("X", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"),
    ("X", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=abcdefghijklmnop1234==;"),
    ("DB_PASSWORD", "hunter2"),
    ("api-key", "abc"),
    ("SLACK_CONNECTION_STRING", "Server=x;Password=y"),
])
def test_secrets(name: str, value: str) -> None:
    assert secret_reason(name, value) is not None


@pytest.mark.parametrize(("name", "value"), [
    ("DB_PASSWORD", ""),
    ("DB_PASSWORD", "   "),
    ("DB_PASSWORD", "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf"),
    ("API_TOKEN", "arn:aws:ssm:us-east-1:123456789012:parameter/api-token"),
    ("CLIENT_SECRET", "https://contoso-kv.vault.azure.net/secrets/client-secret"),
    ("CLIENT_SECRET", "@Microsoft.KeyVault(SecretUri=https://kv.vault.azure.net/secrets/s)"),
    ("HF_TOKEN", "projects/p/secrets/hf-token/versions/latest"),
    ("API_KEY", "${API_KEY}"),
    ("PASSWORD", "{{resolve:secretsmanager:db:SecretString:password}}"),
    ("MODEL_SERVER_WORKERS", "2"),
])
def test_not_secrets(name: str, value: str) -> None:
    assert secret_reason(name, value) is None


def test_values_are_redacted_but_names_kept() -> None:
    [var] = env_vars([("DB_PASSWORD", "hunter2")], container="main")
    assert (var.name, var.value, var.container) == ("DB_PASSWORD", REDACTED, "main")
    assert "hunter2" not in var.model_dump_json()


# --- v2: the name test by words ------------------------------------------------------------------------------

SECRET_LIKE = (
    # the spec's examples
    "HF_TOKEN", "OPENAI_API_KEY", "dbPassword", "AWS_SECRET_ACCESS_KEY",
    # each single word
    "SECRET", "CLIENT_SECRETS", "db_password", "MYSQL_PASSWD", "token",
    "APIKEY", "AccessKey", "PRIVATEKEY", "DB_CONNSTR", "connectionstring",
    # each pair of adjacent words, with every separator and camelCase
    "api-key", "X.API.KEY", "api key", "ACCESS_KEY_ID", "private-key", "rsaPrivateKey", "conn.str", "ConnStr",
    "SQL_CONNECTION_STRING", "sqlConnectionString",
    # acronym boundaries: upper-to-upper-lower
    "DBPassword", "APIKey", "OpenAI_APIKey", "GitHubToken", "OAuthToken", "SSLPrivateKey",
)
NOT_SECRET_LIKE = (
    "MAX_TOKENS", "TOKENIZER_PATH", "NUM_TOKENS_PER_BATCH", "KEYSTONE_URL",
    "maxNewTokens", "TOKENS", "SECRETARY_EMAIL", "PASSWORDLESS_LOGIN",
    "KEY", "API_VERSION", "MONKEY_PATCH", "ACCESS_LOG", "PRIVATE_SUBNET", "CONNECTION_TIMEOUT", "STRING_ENCODING",
    "KEY_API", "API_KEYS", "MODEL_SERVER_WORKERS", "",
)


@pytest.mark.parametrize("name", SECRET_LIKE)
def test_secret_like_names(name: str) -> None:
    assert secret_like_name(name)
    assert secret_reason(name, "s3cr3t-literal") == "secret-like name with a literal value"


@pytest.mark.parametrize("name", NOT_SECRET_LIKE)
def test_names_that_are_not_secret_like(name: str) -> None:
    assert not secret_like_name(name)
    assert secret_reason(name, "4096") is None
    assert secret_reason(name, "s3cr3t-literal") is None


@pytest.mark.parametrize(("name", "words"), [
    ("AWS_SECRET_ACCESS_KEY", ("aws", "secret", "access", "key")),
    ("dbPassword", ("db", "password")),
    ("DBPassword", ("db", "password")),
    ("APIKey", ("api", "key")),
    ("OpenAIAPIKey", ("open", "aiapi", "key")),
    ("my.conn-str value", ("my", "conn", "str", "value")),
    ("NUM_TOKENS_PER_BATCH", ("num", "tokens", "per", "batch")),
    ("__X__", ("x",)),
])
def test_name_words(name: str, words: tuple[str, ...]) -> None:
    assert name_words(name) == words


@pytest.mark.parametrize("value", ["${HF_TOKEN}", "{{resolve:ssm:/prod/hf-token}}",
                                   "arn:aws:secretsmanager:us-east-1:123456789012:secret:hf"])
def test_secret_like_name_with_a_reference_passes(value: str) -> None:
    assert secret_reason("HF_TOKEN", value) is None


def test_value_formats_still_apply_whatever_the_name() -> None:
    assert secret_reason("MAX_TOKENS", "AKIAIOSFODNN7EXAMPLE") == "value matches the AWS access key id format"
    assert value_format_reason("ghp_" + "a" * 36) == "value matches the GitHub token format"
    assert value_format_reason("hunter2") is None


# --- v2: credentials in URLs and connection strings ----------------------------------------------------------

@pytest.mark.parametrize("value", [
    "postgres://app:hunter2@db.internal:5432/prod",
    "mongodb+srv://svc:p%40ss@cluster0.example.net/?retryWrites=true",
    "redis://:hunter2@cache:6379/0",                       # no user, a password
    "https://user:hunter2@example.com",
    "postgres://app:p@ss@db/prod",                          # an unencoded "@" in the password
    "jdbc:postgresql://app:hunter2@db/prod",
    "--index-url https://ci:hunter2@pypi.example.com/simple",   # the URL need not start the value
    "postgres://app:${DB_PASS}x@db/prod",                   # a literal around a reference is still a literal
])
def test_url_with_a_password_is_a_secret_whatever_the_name(value: str) -> None:
    reason = secret_reason("DATABASE_URL", value)
    assert reason == "value is a URL with a literal password"
    assert secret_reason("MAX_TOKENS", value) == reason


@pytest.mark.parametrize("value", [
    "postgres://app@db.internal:5432/prod",                 # user, no password
    "postgres://app:@db.internal/prod",                     # empty password
    "postgres://app:${DB_PASSWORD}@db.internal/prod",       # reference password
    "mysql://app:{{resolve:secretsmanager:db:SecretString:password}}@db/prod",
    "mysql://app:{{resolve:ssm:/prod/db/password}}@db/prod",   # a "/" inside the reference
    "https://example.com:8443/path/user:x@y",               # "@" after the authority is not userinfo
    "https://example.com/a?next=mailto:a:b@c",
    "http://localhost:8080",
])
def test_url_without_a_literal_password_is_not_a_secret(value: str) -> None:
    assert secret_reason("DATABASE_URL", value) is None


@pytest.mark.parametrize("value", [
    "Server=tcp:sql.example.net,1433;Database=app;User ID=svc;Password=hunter2;",
    "Driver={ODBC Driver 18};Server=db;Uid=svc;Pwd=hunter2",
    "server=db;uid=svc;PWD=hunter2;",                       # case-insensitive key
    "Server=db; password = hunter2 ;",                      # spaces around key and value
    "Server=db;Password=\"hun;ter\";",                       # quotes hold the literal (still a password)
    "jdbc:sqlserver://db:1433;databaseName=app;user=svc;password=hunter2;",
])
def test_connection_string_with_a_password_is_a_secret_whatever_the_name(value: str) -> None:
    assert secret_reason("DB", value) == "value is a connection string with a literal password"
    assert secret_reason("MAX_TOKENS", value) is not None


@pytest.mark.parametrize("value", [
    "Server=db;User ID=svc;Password=;",                     # empty password
    "Server=db;Password=${DB_PASSWORD};",                   # reference
    "Server=db;Pwd={{resolve:secretsmanager:db:SecretString:password}}",
    "Server=db;Integrated Security=true;",                  # no password key
    "Server=db;PasswordPolicy=strict;",                     # a longer key is not Password
    "Password=hunter2",                                     # not a key=value; connection string
])
def test_connection_string_without_a_literal_password_is_not_a_secret(value: str) -> None:
    assert secret_reason("DB", value) is None


def test_url_and_connection_string_values_are_redacted() -> None:
    url, conn, plain = env_vars([("DATABASE_URL", "postgres://app:hunter2@db/prod"),
                                 ("SQL", "Server=db;Pwd=hunter2;"), ("MAX_TOKENS", "4096")])
    assert (url.value, conn.value, plain.value) == (REDACTED, REDACTED, "4096")
    assert url.secret and conn.secret and plain.secret is None
    dumped = "".join(v.model_dump_json() for v in (url, conn, plain))
    assert "hunter2" not in dumped


# --- the reusable pair and text tests (scripts) ---------------------------------------------------------------

@pytest.mark.parametrize("value", ["$HF_TOKEN", "${HF_TOKEN}", "$(aws secretsmanager get-secret-value --secret-id x)",
                                   "$1"])
def test_shell_expansions_are_references_in_scripts_only(value: str) -> None:
    assert is_reference(value, script=True)
    assert secret_reason("HF_TOKEN", value, script=True) is None
    if not value.startswith("${"):
        assert not is_reference(value)
        assert secret_reason("HF_TOKEN", value) == "secret-like name with a literal value"


def test_shell_expansion_password_in_a_url_is_a_reference_in_scripts() -> None:
    value = "https://ci:$PYPI_PASSWORD@pypi.example.com/simple"
    assert secret_reason("PIP_INDEX_URL", value, script=True) is None
    assert secret_reason("PIP_INDEX_URL", value) == "value is a URL with a literal password"
    assert secret_reason("PIP_INDEX_URL", "https://ci:$(cat /run/pw)@pypi.example.com", script=True) is None


def test_shell_mode_still_flags_literals() -> None:
    assert secret_reason("HF_TOKEN", "hf_live_9c1d7e2b4a", script=True) == "secret-like name with a literal value"
    assert secret_reason("X", "postgres://a:hunter2@db", script=True) == "value is a URL with a literal password"
    assert secret_reason("MAX_TOKENS", "4096", script=True) is None


def test_text_secrets_names_lines_and_formats_never_values() -> None:
    script = "\n".join([
        "#!/bin/bash",
        "set -e",
        "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE",
        "MAX_TOKENS=4096",
        "cat > /tmp/k <<EOF",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        "EOF",
        "curl -H 'Authorization: token ghp_0123456789abcdefghijABCDEFGHIJ012345' https://api.github.com",
    ])
    assert text_secrets(script) == [
        (3, "value matches the AWS access key id format"),
        (6, "value matches the private key format"),
        (8, "value matches the GitHub token format"),
    ]
    assert text_secrets("#!/bin/bash\necho hello\nexport HF_TOKEN=$HF_TOKEN\n") == []
    assert text_secrets("") == []
