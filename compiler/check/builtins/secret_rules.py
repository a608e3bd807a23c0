"""The rules of `plaintext-secret` (plaintext_secret.py), as data: each pattern or word
list with the reason it exists. The detector's logic reads them; the labelled corpora in
`tests/fixtures/secrets/` measure them. A false alarm or a miss is fixed here, by a rule
that holds for the whole family of values, never by listing the value.
"""

from __future__ import annotations

import re

# --- rule 1: a key that names a secret, with a literal value -------------------------------
# A key names a secret when its last words are one of these phrases: `DB_PASSWORD`,
# `smtp_pass`, `DB_PWD`, `LDAP_BIND_PW`, `apiKey`, `AWS_SECRET_ACCESS_KEY`, Rails'
# `SECRET_KEY_BASE`. The last word is what the value *is*; a word after it says the value
# is something about the secret (`password_file`, `token_ttl`, `secretName`,
# `password_min_length`), which is why a key merely *containing* `auth` or `secret`
# (`postfix_smtpd_sasl_auth_enable`, `OAUTH_ISSUER`, `KC_SPI_AUTHENTICATOR_*`) is none.
SECRET_PHRASES = frozenset(
    {
        ("password",), ("passwords",), ("passwd",), ("pwd",), ("pw",), ("pass",),
        ("passphrase",), ("htpasswd",), ("secret",), ("secrets",), ("token",), ("tokens",),
        ("credential",), ("credentials",), ("apikey",), ("psk",),
        ("api", "key"), ("private", "key"), ("access", "key"), ("signing", "key"),
        ("secret", "key"), ("auth", "key"), ("encryption", "key"), ("master", "key"),
        ("account", "key"),  # Azure storage `AccountKey=`
        ("session", "key"), ("client", "key"), ("hmac", "key"), ("jwt", "key"),
        ("cookie", "key"), ("csrf", "key"), ("shared", "key"), ("decryption", "key"),
        ("app", "key"),  # Laravel's APP_KEY

        ("secret", "key", "base"),  # Rails: the app's master secret
        # an SNMP community string is the agent's password (`snmp_community`,
        # net-snmp's `rocommunity` and `rwcommunity`)
        ("community",),
    }
)  # fmt: skip
# One-word keys that end in a secret word: `PGPASSWORD` (libpq), `DBPASS`, `bindpw`
# (nslcd, sssd), `requirepass` and `masterauth` (redis), `clientsecret`. The word before
# the suffix must have two letters or more, and the English words that end like one are
# not compounds.
COMPOUND_SUFFIXES = (
    "password", "passwd", "passphrase", "pass", "pwd", "pw", "secret", "token", "apikey",
    "auth", "community",
)  # fmt: skip
NOT_COMPOUNDS = frozenset(
    {
        "bypass", "compass", "encompass", "overpass", "underpass", "surpass", "trespass",
        "impass", "oauth",  # OAuth is a protocol's name
        "oldpwd",  # the shell's previous working directory
    }
)  # fmt: skip
# A key whose last word is `seed` holds what a key is derived from (a TOTP seed, a wallet's
# seed) when its value is a run of key characters; a number under it is a random
# generator's seed (`random_seed: 42`), and a host or a list (`seed_nodes`) no key.
SEED_WORDS = frozenset({"seed"})
# key characters: base32 (a TOTP seed: capitals and 2-7, which read as words otherwise) or
# a random run (judged by entropy and words: `synapse-media-cache-v2` is a name)
SEED_BASE32 = re.compile(r"^(?=.*[2-7])[A-Z2-7]{16,}={0,6}$")
# Keys that name a credential by their first words, the rest naming what it is for:
# Terraform's `TF_TOKEN_<host>` (`TF_TOKEN_app_terraform_io`) is the API token for a host.
SECRET_KEY_PREFIXES = ("tf_token_",)
# Trailing words that say how the secret is written, not what it is about:
# `DB_PASSWORD_B64` is the password, in base64.
ENCODED_AS = frozenset({"b64", "base64", "hex", "raw", "plain", "plaintext", "value"})
# `auth` as the last word names the credential (`REDISCLI_AUTH`, `REGISTRY_AUTH`, a
# docker config's `auth`) or the way to authenticate (`smtp_auth: plain`): a literal is
# a secret unless it is the name of a method or mode.
WEAK_WORDS = frozenset({"auth"})
AUTH_METHODS = frozenset(
    {
        "none", "basic", "digest", "bearer", "token", "oauth", "oauth2", "oidc", "openid",
        "ldap", "saml", "kerberos", "gssapi", "ntlm", "negotiate", "plain", "login",
        "cram-md5", "digest-md5", "xoauth2", "scram-sha-1", "scram-sha-256", "scram-sha-512",
        "md5", "trust", "peer", "ident", "cert", "tls", "mtls", "password", "jwt", "apikey",
        "api-key", "sasl", "required", "optional", "request", "require", "on", "off",
        "enabled", "disabled", "internal", "external", "local", "anonymous", "hmac", "iam",
        "aws", "sigv4", "header", "query", "form", "session", "cookie", "mutual", "any",
        "all", "client", "server", "default", "true", "false", "verify-ca", "verify-full",
        "verify-peer", "verify", "strict", "lax", "want", "need", "ssl", "starttls", "pam",
        "htpasswd", "radius", "x509", "spnego", "webauthn", "totp", "otp", "mfa", "2fa",
        # IPsec (swanctl's `auth = pubkey`) and ssh methods
        "pubkey", "publickey", "psk", "eap", "xauth", "keyboard-interactive", "hostbased",
    }
)  # fmt: skip
# ... or the name of a digest or MAC algorithm (OpenVPN's `auth SHA256`, `auth_type PASS`
# stays a method word): `sha256`, `SHA-512`, `sha3-256`, `blake2b`, `hmac-sha1`, and an
# EAP type (`eap-tls`, `eap-mschapv2`)
AUTH_ALGORITHM = re.compile(
    r"^((hmac-)?(sha-?\d*|sha3-\d+|md5|blake2[bs]?|ripemd\d*|whirlpool|sm3)|eap-[a-z0-9]+)$"
)
# an `auth` value that is one method or several (`ldap,local`, `basic digest`)
AUTH_SEPARATORS = re.compile(r"[\s,|;+]+")
# keys that end like a secret but never hold one: External Secrets' `secretKey`, the name
# of a key in the Secret it writes
NOT_SECRET_KEYS = frozenset({"secretkey"})
# ... and phrases: nginx passes a request *to* an upstream (`proxy_pass http://app;`)
NOT_SECRET_PHRASES = frozenset(
    {("proxy", "pass"), ("fastcgi", "pass"), ("uwsgi", "pass"), ("grpc", "pass"),
     ("scgi", "pass"), ("memcached", "pass")}
)  # fmt: skip
# A key whose last word is `secret(s)` after one of these names a Kubernetes Secret object
# (`existingSecret`, `imagePullSecrets`, `envFromSecrets`, `tls_secret`): a DNS-1123 name
# under it is the object's name, not the secret. Any other value is one.
SECRET_OBJECT_QUALIFIERS = frozenset(
    {
        "existing", "pull", "from", "tls", "ssl", "cert", "certificate", "ca", "mounted",
        "volume", "k8s", "kube", "kubernetes", "target", "source", "ref",
    }
)  # fmt: skip
# ... and in Helm's camelCase only (`passwordSecret`, `tokenSecret`, `envSecret`): an
# upper-case `SMTP_PASSWORD_SECRET` is an environment variable, which holds values.
CAMEL_SECRET_OBJECT_QUALIFIERS = frozenset(
    {"password", "passwords", "token", "tokens", "credentials", "credential", "key", "keys", "env"}
)
DNS_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

# --- values that hold nothing ---------------------------------------------------------------
# booleans and nulls
EMPTY = re.compile(r"^(true|false|yes|no|on|off|null|none|nil|~|)$", re.I)
# References: the value is filled in from elsewhere, at render, deploy or run time. An
# interpolation (`${secret.X}`, `${VAR}`), a Jinja expression (`{{ vault_x }}`, AWX and
# Ansible lookups), Kubernetes' dependent env var (`$(POSTGRES_PASSWORD)`), a shell's
# command substitution (`$(cat /run/secrets/db)`), ERB, and pipeline token replacement
# (`__PASSWORD__`, `#{Password}#`, `@password@`, `%PASSWORD%`).
REFERENCE = re.compile(
    r"\$__(env|file|vault)\{[^{}]*\}"  # Grafana's config indirections
    r"|\$\{[^{}]*\}|\{\{.{0,500}?\}\}|\{%.{0,500}?%\}|\$\([^()]*\)|`[^`]*`|<%=?.{0,500}?%>"
    r"|^__\w+__$|^#\{\w+\}#?$|^@\w+@$|^%\w+%$"
    # ... Python's configparser and logging `%(VAR)s`, token replacement in other
    # delimiters (`@@VAR@@`, `<<VAR>>`, `[[VAR]]`, `%%VAR%%`), and a format string's field
    # as a whole value (.NET and Python `{DbPassword}`)
    r"|%\([\w.-]+\)[sdirf]|^(@@|<<|\[\[|%%)[A-Za-z_][\w.-]*(@@|>>|\]\]|%%)$"
    r"|^\{\$?[A-Za-z_][\w.:-]*\}$"  # ... and Caddy's `{env.X}` and `{$X}`
    # Symfony's `%env(DATABASE_PASSWORD)%` and parameters (`%kernel.secret%`), Ruby's
    # `#{ENV['X']}`, Hiera's `%{lookup('x')}`, Concourse's `((var))` and spruce's
    # `(( grab x ))`, a variable's name after `env:` (Datadog, Vector) and Azure Container
    # Apps' `secretref:name`
    r"|%env\([^()%]*\)%|^%[\w.-]+%$|#\{[^{}]*\}|%\{[^{}]*\}|\(\([^()]*\)\)"
    r"|^(env|secretref):[A-Za-z_][\w.-]*$",
    re.S,
)
# A Terraform (HCL) expression that refers to a variable, a local, a data source, a module's
# output or a resource's attribute (`var.db_password`, `random_password.db.result`): HCL
# quotes its literals, so an unquoted reference names where the value comes from.
HCL_REFERENCE = re.compile(
    r"^((var|local|data|module|each|count|path|terraform|self)\.[A-Za-z_][\w-]*"
    r"|[a-z][a-z0-9]*_[a-z0-9_]+\.[a-z_][\w-]*\.[a-z_][\w-]*)(\.[A-Za-z_][\w-]*|\[\w+\])*$"
    # ... or a function of one (`try(var.db_password, null)`, `sensitive(local.token)`)
    r"|^[a-z][a-z0-9_]*\(\s*(?:[a-z][a-z0-9_]*\(\s*)*(var|local|data|module|each)\.[A-Za-z_]"
)
# Code and shells that read the value from the environment or a secret API at run time:
# `os.environ["X"]`, `os.Getenv("X")`, `System.getenv("X")`, `ENV.fetch("X")`,
# `process.env.X`, PowerShell's `$env:X`, a shell's `$DB_PASSWORD` (upper case: a
# variable's name, not a password that starts with `$`).
ENV_LOOKUP = re.compile(
    r"^((?:[A-Za-z_]\w*(?:\.|::))*(?:getenv|Getenv|LookupEnv|GetEnvironmentVariable|getProperty"
    r"|environ|env|ENV|fetch|get_secret|getSecret)\s*[(\[][^=;]*"
    r"|(?:process\.env|import\.meta\.env|ENV)\.\w+|\$env:\w+|\$[A-Z_][A-Z0-9_]*)$"
)
# Encrypted by design, safe to commit: SOPS (`ENC[AES256_GCM,...]`), Ansible Vault, and
# references to a secret manager (vals' `ref+vault://`, bank-vaults' `vault:path#key`,
# 1Password's `op://`).
# `ENC[...]` in any form is an envelope or a handle: SOPS' `ENC[AES256_GCM,...]`, the
# Datadog agent's secret backend `ENC[handle]`, Jasypt's `ENC(ciphertext)`. A secret
# manager's reference by the platform's own syntax: Azure App Service's
# `@Microsoft.KeyVault(...)`, an AWS Secrets Manager or SSM parameter ARN, a GCP Secret
# Manager resource name. Rails' encrypted credentials and messages (`credentials.yml.enc`:
# base64 ciphertext `--` iv `--` auth tag) are encrypted by design, like Ansible Vault.
ENCRYPTED = re.compile(
    r"^(ENC\[[^\[\]]+\]|ENC\([^()]+\)|\$ANSIBLE_VAULT;.*|ref\+[a-z0-9]+://\S+|vault:\S+#\S+|op://\S+"
    r"|\{cipher\}[A-Za-z0-9+/=]+"  # Spring Cloud Config's encrypted values
    r"|@Microsoft\.KeyVault\([^()]*\)|arn:aws[\w-]*:(secretsmanager|ssm):[\w-]*:\d*:\S+"
    r"|projects/[\w-]+/secrets/[\w-]+(/versions/[\w-]+)?"
    r"|[A-Za-z0-9+/]{16,}={0,2}--[A-Za-z0-9+/]{16}={0,2}--[A-Za-z0-9+/]{16,24}={0,2})$",
    re.S,
)
# Placeholders someone has to replace: `<set-in-vault>`, `********`, `xxx`, `TODO`,
# `REPLACE_ME`, `your-api-key`. `changeit` is the JDK's documented default keystore
# password, public knowledge rather than a secret.
PLACEHOLDER = re.compile(
    r"^(<[^<>]+>|[*xX•#.]{3,}|\[[a-z _-]+\]"
    # a masked value that keeps its type's prefix or last characters (`dop_v1_****`,
    # `sk_live_********4242`): a copy of what a console shows, not the value
    r"|[\w.-]{0,16}[*•]{4,}\w{0,6}"
    r"|todo|tbd|fixme|redacted|placeholder|changeme|change[-_ ]me|changeit"
    r"|replace[-_ ]?me|set[-_ ]?me|fill[-_ ]?me|fill[-_ ]in|your[-_ ][\w -]*)$",
    re.I,
)

# --- rule 2: credentials in a URL, a host address, a connection string, a header ----------
# `scheme://user:password@host`, the same without a scheme where a host address is written
# (`admin:hunter2@db.internal:5432`, redis' `:hunter2@redis:6379`), and Oracle's
# `user/password@host` (`jdbc:oracle:thin:scott/tiger@db:1521/ORCL`). A password that is
# a reference is none. `mailto:` and friends have a colon before the `@` but no password.
URL_CREDENTIALS = re.compile(
    r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://[^\s/:@]*:(?P<password>[^\s/@]+)@", re.I
)
HOST_CREDENTIALS = re.compile(
    r"^(?P<user>[^\s/:@]*):(?P<password>[^\s/@]+)@"
    r"([A-Za-z0-9.-]+(:\d+)?|(tcp|udp|unix)\([^)\s]*\))(/\S*)?$"  # Go's `@tcp(db:3306)`
)
# Oracle's form needs a sign that it is one: after `jdbc:oracle:thin:` (any `:`), or a
# host with a dot or a port (`nginx/nginx@1.25` and `x/tools@v0.1.0` are versions).
ORACLE_CREDENTIALS = re.compile(
    r"(?:^|(?<=[:\s]))(?P<user>[A-Za-z][A-Za-z0-9_$#]*)/(?P<password>[^\s/@:]+)"
    r"@(//)?(?P<host>[A-Za-z0-9][A-Za-z0-9.-]*)(?P<port>:\d+)?(/[A-Za-z0-9_.]*)?(?=$|[\s?;])"
)
VERSION = re.compile(r"^v?\d+(\.\d+)*$")
NOT_USERINFO = frozenset({"mailto", "sip", "sips", "xmpp", "tel"})
# The user of a URL alone can be the credential (`https://ghp_...@github.com`): a random
# user name is a token. Sentry's DSN key is public by design (it ships in browser code).
URL_USER = re.compile(
    r"(?<![a-z0-9+.-])[a-z][a-z0-9+.-]*://(?P<user>[^\s/:@]+)@(?P<host>[^\s/:]+)", re.I
)
PUBLIC_USERINFO_HOSTS = re.compile(r"(^|\.)sentry\.io$|^sentry\.", re.I)
# `key=value` pairs inside a value: connection strings (ADO.NET `Password=x;`, libpq
# `password=x`, JDBC `;password=x` and `?password=x`), URL queries (`?token=x`), dotenv
# lines, command-line flags (`--password=x`, `-Djavax.net.ssl.keyStorePassword=x`),
# RADIUS attributes and make variables (`Cleartext-Password := "x"`). The
# pair's key is judged by rule 1; in a URL query `sig` and `signature` (a pre-signed
# URL's) are credentials too.
PAIR = re.compile(
    r"(?:^|(?<=[;\s&?,]))(?:export\s+|-{1,2}D?)?"
    r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*(?: [A-Za-z][A-Za-z0-9_]*)?)[ \t]*:?=[ \t]*"
    r"(?P<value>\"[^\"]*\"|'[^']*'|\$\{[^}]*\}|\{\{.{0,500}?\}\}|(?!=)[^;&\s,\"']+)"
)
QUERY_SECRET_WORDS = frozenset({"sig", "signature"})
# A command line's long flag naming a secret, then its value (`--password hunter2`, in one
# string or as two `args` items), and curl's `-u user:password`.
FLAG_VALUE = re.compile(r"(?:^|(?<=\s))--(?P<flag>[A-Za-z][\w-]*)[ \t]+(?P<value>[^\s-]\S*)")
CLI_USER = re.compile(r"(?:^|(?<=\s))(-u|--user)[ \t=]+[^\s:]+:(?P<password>\S+)")
USER_FLAGS = frozenset({"-u", "--user"})
# An HTTP Authorization value: `Bearer <token>`, `Basic <base64 of user:password>`.
AUTH_HEADER = re.compile(r"\b(?P<scheme>Bearer|Basic|Token)\s+(?P<cred>[A-Za-z0-9._~+/=-]{8,})")
# Webhook URLs whose path is the credential: whoever has the URL can post.
WEBHOOKS = (
    re.compile(r"hooks\.slack\.com/(services|workflows|triggers)/\S+"),
    re.compile(r"discord(app)?\.com/api/webhooks/\d+/[\w-]+"),
    re.compile(r"\.webhook\.office\.com/webhookb2/\S+|outlook\.office(365)?\.com/webhook/\S+"),
    re.compile(r"api\.telegram\.org/bot\d+:[\w-]+"),
    re.compile(r"events\.pagerduty\.com/integration/[a-f0-9]{32}"),
    re.compile(r"hooks\.zapier\.com/hooks/catch/\d+/\w+"),
    re.compile(r"maker\.ifttt\.com/trigger/[^/\s]+/with/key/[\w-]+"),
)
# Elsewhere, a random path segment right after `/hooks/` or `/webhook(s)/` (Mattermost,
# Gitea, self-hosted relays): the segment is the key.
HOOK_SEGMENT = re.compile(r"/(hooks|webhooks?)/(?P<segment>[A-Za-z0-9_-]{16,})(?=[/?#]|$)")
# A user:password pair as a whole value, under a key that names a credential but not as
# its last word (postfix `smtp_sasl_password_maps: static:mailer:Pa55word`).
# postfix' sasl_passwd line has the relay first: `[smtp.example.net]:587 mailer:Pa55word`.
# Lines that begin with their keyword, in a file or as one value (a list of a server's
# config lines):
KEYWORD_CREDENTIAL_LINES = (
    # Redis ACL: `user worker on >password ~keys:* +@all` (`>` adds a password, `#` its
    # SHA-256), in users.acl or as `ACL SETUSER`
    re.compile(
        r"^\s*(?i:user|acl\s+setuser)\s+\S+(?:\s+\S+)*?\s+(?:>|#(?=[0-9a-f]{64}))(?P<password>\S+)"
    ),
    # SNMPv3 USM user: `createUser <name> SHA <auth passphrase> [AES <priv passphrase>]`
    re.compile(r"^\s*createUser\s+\S+\s+(MD5|SHA\S*)\s+(?P<password>\S+)"),
)
# Credential files by their format: `.netrc` (`machine h login u password p`) and
# `.pgpass` (`host:port:database:user:password`), one entry a line.
CREDENTIAL_LINES = (
    re.compile(r"^\s*(machine\s+\S+|default)\b.*\bpassword\s+(?P<password>\S+)"),
    re.compile(r"^[^:\s]+:(\d+|\*):[^:\s]+:[^:\s]+:(?P<password>\S+)$"),
    # postfix' sasl_passwd: `[relay.example.net]:587 user:password` (a host with a dot)
    re.compile(r"^\[?[A-Za-z0-9.-]+\.[A-Za-z]{2,}\]?(:\d+)?\s+[^\s:]+:(?P<password>[^\s/]+)$"),
    # NTP symmetric keys (ntp.keys, chrony.keys): `<id> <digest> [HEX:|ASCII:]<key>`
    re.compile(
        r"^\s*\d+\s+(M|MD5|SHA1?|SHA-?\d{3}|SHA3-\d{3}|RMD160|AES\d*CMAC|AES-\d+-CMAC)"
        r"\s+(?:(?:HEX|ASCII):)?(?P<password>\S+)\s*$"
    ),
    *KEYWORD_CREDENTIAL_LINES,
)
# A server's directive line, `word [words] <keyword> [name] <value>`, whose keyword names a
# secret: HAProxy's `stats auth user:password` and `user x insecure-password pw`,
# Sentinel's `sentinel auth-pass <master> pw`, net-snmp's `rocommunity <community> <net>`.
# One of the (at most two) words after the keyword is the secret when it is not a plain
# word, a number, a host, a path or a network: such a line's other words are names.
DIRECTIVE = re.compile(r"^\s*[a-z][\w-]*(\s+[^\s=]+){1,5}\s*$")
NETWORK = re.compile(r"^[0-9a-fA-F.:]+/\d{1,3}$")
# After a bare noun (`password`, `secret`, `token`) a lower-case name is an object's name
# (`kubectl get secret app-2`, `create token sa-2`); after a directive's own keyword
# (`insecure-password`, `auth-pass`, `requirepass`) it is the value. A line with words of
# prose is prose (`reset password for user-42`).
LOWER_NAME = re.compile(r"^[a-z0-9]+([-_.][a-z0-9]+)*$")
PROSE_WORDS = frozenset(
    {"the", "a", "an", "to", "for", "of", "in", "is", "are", "was", "with", "after", "before",
     "from", "by", "and", "or", "every", "each", "if", "when", "your", "this", "that", "be",
     "not", "will", "must", "should", "can", "see", "use", "via", "into", "per"}
)  # fmt: skip
# Files named for their secrets (rsyncd's `rsyncd.secrets`, strongSwan's `ipsec.secrets`,
# pppd's `chap-secrets`, `*.credentials`): every line but a comment holds one, unless its
# last word is a path (`: RSA /etc/ipsec.d/private/gw.pem` names a key file).
# A cookie file (Erlang's `.erlang.cookie`, a cookie jar) holds a login the same way.
SECRETS_FILE_WORDS = frozenset(
    {"secret", "secrets", "credential", "credentials", "cookie", "cookies"}
)
# An XML element or a code constant named for a secret: Maven's settings.xml
# `<password>x</password>`, PHP's `define('DB_PASSWORD', 'x')`, `ENV['API_TOKEN'] = 'x'`.
XML_ELEMENT = re.compile(r"<(?P<key>[A-Za-z_][\w.:-]*)(?:\s[^<>]*)?>(?P<value>[^<>]*)</(?P=key)>")
CODE_CONSTANT = re.compile(
    r"(?:\bdefine\(\s*|\[\s*)(?P<q>['\"])(?P<key>[A-Za-z_][\w.-]*)(?P=q)\s*(?:,|\]\s*=)\s*"
    r"(?P<vq>['\"])(?P<value>[^'\"]*)(?P=vq)"
)
# Client programs that take a password by a short flag: `sshpass -p pw`, MySQL's
# `-ppw` (attached only: `-p` alone prompts, and a word after it is the database),
# `redis-cli -a pw`, OpenLDAP's `-w pw`. Elsewhere `-p` is a port or a publish.
PASSWORD_SHORT_FLAGS = {
    "sshpass": "-p", "redis-cli": "-a", "ldapsearch": "-w", "ldapmodify": "-w",
    "ldapadd": "-w", "ldapdelete": "-w", "ldapwhoami": "-w", "ldappasswd": "-w",
    "mysql": "-p", "mysqldump": "-p", "mysqladmin": "-p", "mariadb": "-p",
    "mariadb-dump": "-p", "mysqlimport": "-p", "mysqlcheck": "-p",
}  # fmt: skip
ATTACHED_ONLY = frozenset({"mysql", "mysqldump", "mysqladmin", "mariadb", "mariadb-dump",
                           "mysqlimport", "mysqlcheck"})  # fmt: skip
# An HCL or shell block opener as a line's value (`auto_auth {`, `password = <<EOT`) is
# the start of a block, not a value; so is a YAML anchor (`auth: &auth`, the block below
# it is judged line by line), and an alias names a value written elsewhere in the file.
BLOCK_OPENER = re.compile(r"^(\{|\[|\(|<<-?[\"']?\w+[\"']?|[|>][-+]?|[&*][\w.-]+)$")
USER_PASSWORD = re.compile(r"^(?:\S+\s+)?(?:[a-z]+:)?[^\s:/@]+(@[^\s:/]+)?:(?P<password>[^\s:/]+)$")

# --- rule 3: a private key or a password hash -----------------------------------------------
# A PEM block of any private key type (RSA, EC, OPENSSH, ENCRYPTED, PGP ... BLOCK), a PuTTY
# key file, an age identity, in any value (a file's `content:` usually). Certificates and
# public keys are public.
PRIVATE_KEYS = (
    re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    # a symmetric key in a PEM-like armour: OpenVPN's `tls-auth`/`tls-crypt` static key
    # (`-----BEGIN OpenVPN Static key V1-----`), any `... SECRET KEY` block
    re.compile(r"-----BEGIN ([A-Za-z0-9]+ )*(?i:static|secret|symmetric) key( V\d+| BLOCK)?-----"),
    re.compile(r"PuTTY-User-Key-File-\d+:[\s\S]*Private-Lines:"),
    re.compile(r"AGE-SECRET-KEY-1[0-9A-Z]{20,}"),
    # Synapse's signing key file: `ed25519 <key id> <unpadded base64 of the 32-byte seed>`
    re.compile(r"(?m)^ed25519 [A-Za-z0-9_]+ [A-Za-z0-9+/]{43}=?\s*$"),
)
# A password hash (htpasswd `user:$apr1$...`, bcrypt `$2y$`, crypt `$6$`, argon2, LDAP's
# `{SSHA}`): cracked offline by whoever reads it, and it logs in wherever it is installed.
# Dovecot's and LDAP's `{SCHEME}` prefix names any scheme (`{SHA512-CRYPT}$6$...`,
# `{BLF-CRYPT}`, `{ARGON2ID}`, `{PLAIN}` which is the password itself). Mosquitto's PBKDF2
# is `$7$`. PostgreSQL's verifiers (pgbouncer's userlist.txt, `pg_authid`): `md5` and 32 hex
# digits, `SCRAM-SHA-256$<iterations>:<salt>$<key>:<key>`, log in by pass-the-hash.
PASSWORD_HASH = re.compile(
    r"(^|[\s:\"'}])(\$(apr1|2[abxy]?|1|5|6|7|y|argon2(id|i|d)|scrypt|pbkdf2[-\w]*)\$[./A-Za-z0-9$=,+-]{8,}"
    r"|\{(S?SHA\d*|S?MD5|CRYPT|[A-Z0-9]+-CRYPT|PBKDF2[-\w]*|ARGON2I?D?|SCRAM-SHA-\d+|CRAM-MD5"
    r"|DIGEST-MD5|PLAIN-MD5|LDAP-MD5|PLAIN|CLEAR|CLEARTEXT|NTLM|LANMAN)(\.(?i:b64|hex|base64))?\}"
    r"[^\s:{}]{4,}"
    r"|md5[0-9a-f]{32}(?![0-9A-Za-z])|SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+)"
)

# --- rule 4: a known token, a random key ----------------------------------------------------
# Tokens whose issuers publish a recognisable form so that scanners find them, found
# anywhere inside a value (a URL, a header, a file) between word boundaries.
KNOWN_TOKENS = tuple(
    re.compile(rf"(?<![A-Za-z0-9_-])({pattern})(?![A-Za-z0-9_-])")
    for pattern in (
        r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",  # a JWT
        r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{40,}",  # GitHub
        r"gl(pat|dt|rt|ptt|ft|imt|soat|oas|cbt|agent)-[A-Za-z0-9_-]{20,}",  # GitLab
        r"glsa_[A-Za-z0-9]{32}_[a-f0-9]{8}|glc_[A-Za-z0-9+/]{32,}={0,2}",  # Grafana
        r"xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Z0-9]+-\d+-[a-f0-9]+",  # Slack
        r"(AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}",  # an AWS access key id
        r"(sk|rk)_(live|test)_[A-Za-z0-9]{16,}",  # Stripe secret and restricted keys
        r"AIza[0-9A-Za-z_-]{35}",  # Google API key
        r"sk-(proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|sk-ant-[a-z]{3}\d\d-[A-Za-z0-9_-]{20,}"
        r"|sk-[A-Za-z0-9]{48}",  # OpenAI, Anthropic
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",  # SendGrid
        r"npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,}|hf_[A-Za-z]{34}",  # npm, PyPI, HF
        r"do[por]_v1_[a-f0-9]{64}|shp(at|ca|pa|ss)_[a-fA-F0-9]{32}",  # DigitalOcean, Shopify
        r"hv[sb]\.[A-Za-z0-9_-]{24,}",  # HashiCorp Vault
        r"sha256~[A-Za-z0-9_-]{43}",  # OpenShift OAuth access token
        r"sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}",  # Mapbox secret token (`pk.` is public)
        r"\d{8,10}:AA[A-Za-z0-9_-]{33}",  # a Telegram bot token
        r"sy[tr]_[A-Za-z0-9]+_[A-Za-z0-9]{20}_[A-Za-z0-9]{6}|m[ac]t_[A-Za-z0-9]{30}_[A-Za-z0-9]{6}",
        # ^ Matrix: Synapse and MAS access and refresh tokens
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_-]{60,}",  # Terraform Cloud / Enterprise
        r"hmac-(md5|sha1|sha224|sha256|sha384|sha512)(\.sig-alg\.reg\.int)?:[\w.-]+:[A-Za-z0-9+/]{16,}={0,2}",
        # ^ a DNS TSIG key as nsupdate and knot take it: `algorithm:name:secret`
    )
)
# A token in a vendor's published form of a short prefix, separators, and a random tail
# (Docker Hub `dckr_pat_…`, New Relic `NRAK-…`, Postman `PMAK-…`, Doppler `dp.st.prd.…`),
# in a command or a file as much as alone: the tail is 20+ letters and digits of two
# kinds, not hex (`cache-key-<sha>` is a hash), with a random key's entropy; the prefix is
# two or more segments or in capitals, because one lower-case word and a random tail is
# how public object ids are written (Stripe's `price_1Mo…`, `cus_…`; TypeIDs
# `user_01h…`), and it is no word that names public data (`sha-…`: see PUBLIC_WORDS).
PREFIXED_TOKEN = re.compile(
    r"(?<![\w./:@-])(?P<prefix>[A-Za-z]{2,6}(?:[_.-][A-Za-z]{2,4}){0,2}[_.-])"
    r"(?P<tail>[A-Za-z0-9]{20,})(?![\w./@-])"
)
# A literal a script writes into a file named for a secret (`echo pul-… >
# ~/.pulumi/token`, `printf '%s' x > /root/.vault-token`) or pipes into a login's
# `--password-stdin` (`echo 'x' | docker login -u me --password-stdin`, helm, podman).
ECHO_LITERAL = re.compile(
    r"\b(?:echo|printf)(?:[ \t]+-[A-Za-z]+)*(?:[ \t]+(?P<q>['\"]?)%s(?P=q))?[ \t]+"
    r"(?P<vq>['\"]?)(?P<value>[^\s'\"|>;&]+)(?P=vq)[ \t]*"
    r"(?:>>?[ \t]*(?P<path>[^\s;&|]+)|\|[^|\n;&]*--password-stdin)"
)
# --- SQL and HTTP headers in commands and scripts -----------------------------------------
# A password in SQL: PostgreSQL `CREATE USER x [WITH] PASSWORD 'pw'` and `ALTER ROLE`,
# MSSQL `WITH PASSWORD = N'pw'`, MySQL `IDENTIFIED [WITH plugin] BY 'pw'`, Oracle
# `IDENTIFIED BY pw` (quoted or bare). A psql or sqlplus variable (`PASSWORD :'pw'`,
# `IDENTIFIED BY &pw`) is none.
SQL_PASSWORD = re.compile(
    r"(?i:\bpassword(?:\s+|\s*=\s*)N?|\bidentified\s+(?:with\s+\w+\s+)?by\s+(?:password\s+)?N?)"
    r"(?:(?P<q>['\"])(?P<quoted>[^'\"\n]+)(?P=q)|(?<=[Yy]\s)(?P<bare>[A-Za-z0-9][A-Za-z0-9_#$!%^&*+=-]*))"
)
# The statement must be one that creates or changes a login, earlier in the same statement
# (no `;` or blank line between, within SQL_REACH characters): prose and code that say
# "identified by" or `['password']` are not SQL.
SQL_CONTEXT = re.compile(r"(?i)\b((create|alter)\s+(user|role|login)|grant)\s")
SQL_REACH = 300
# An HTTP header passed on a command line (`curl -H 'X-API-Key: …'`, `--header`): the
# header's name is judged like a key (`X-Api-Key`, `X-Auth-Token`, `Private-Token`), and a
# `Cookie` header carries a session, which logs in as its user, when a cookie's value is a
# random run.
HEADER_FLAG = re.compile(
    r"(?:^|(?<=\s))(?:-H|--header)[ \t=]*(?P<q>['\"]?)(?P<name>[A-Za-z][\w-]*):[ \t]*"
    r"(?P<value>[^'\"\n]*)"
)
COOKIE_PAIR = re.compile(r"(?P<name>[^\s=;]+)=(?P<value>[^\s;]+)")
# A manifest of files and their content digests (`static/logo.svg: <40 hex>`): a hex
# string of a digest's length under a key that is a file's name is that file's hash
# (git's blob id, SHA-256). Not a key file's name (`server.key`, `tls.pem`).
DIGEST_HEX = re.compile(
    r"^([0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{56}|[0-9a-f]{64}|[0-9a-f]{96}|[0-9a-f]{128})$"
)
FILE_NAME_KEY = re.compile(r"^(?:[^/\s]+/)*[^/\s]+\.(?P<ext>[A-Za-z0-9]{1,5})$")
KEY_FILE_TYPES = frozenset(
    {"key", "pem", "p12", "pfx", "jks", "keystore", "secret", "secrets", "token", "der", "asc",
     "gpg", "kdbx", "ppk"}
)  # fmt: skip
# A list under `secrets` or `credentials` names secret objects, not values: Compose's
# `secrets: [pg_password]`, a workflow's `secrets: [deploy-key]`; an item that is an
# identifier of two or more words is a name. (`api_tokens: [tok-one]` and
# `secrets: [hunter2]` hold values.)
SECRET_NAME_LISTS = frozenset({"secrets", "credentials"})
SECRET_OBJECT_NAME = re.compile(r"^[a-z][a-z0-9]*([_.-][a-z0-9]+)+$")

# Otherwise a random key is a long run of base64 / URL-safe characters (no dots: host
# names, versions and file names have them; no `:`: digests and URLs) that is not made of
# words, has high entropy, and is none of the public random-looking values below.
# Made of words: at least three quarters of its letters and digits are in runs of three
# or more letters (`ENABLE_ROOM_DIRECTORY_V2`, `msc3575SlidingSyncEnabled`,
# `/var/lib/postgresql/data/pgdata15`); a random string of mixed case and digits has
# short runs (`q8Zr2Kx7Lm4Np9`), a random hex string almost none.
TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_-]{20,}$")
LETTER_RUN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
WORDS_SHARE = 0.75
MIN_ENTROPY = 3.5  # bits per character: 20+ random characters of 16+ symbols have more
# Random-looking but public by design.
PUBLIC_VALUES = (
    re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I),  # UUID
    re.compile(r"^age1[02-9ac-hj-np-z]{58}$"),  # an age recipient: the public half
    re.compile(r"^pk_(live|test)_[A-Za-z0-9]+$"),  # Stripe publishable key: ships in pages
    re.compile(r"^(sha256|sha384|sha512)-[A-Za-z0-9+/]{43,86}={0,2}$"),  # SRI integrity
    re.compile(r"^[a-z0-9-]*(verification|challenge)=[A-Za-z0-9_+/=-]+$", re.I),  # DNS TXT
    # IPFS content ids: CIDv0 (base58 multihash `Qm…`) and CIDv1 (base32 `bafy…`): the hash
    # of published content, the address anyone fetches it by
    re.compile(r"^Qm[1-9A-HJ-NP-Za-km-z]{44}$|^b(afy|afk|afz|aga)[a-z2-7]{50,}$"),
    # `0x` and 16 or 40 hex digits: an OpenPGP long key id or fingerprint, an Ethereum
    # address (`0x` and 64 is a private key, and stays reported)
    re.compile(r"^0x([0-9A-Fa-f]{16}|[0-9A-Fa-f]{40})$"),
    # a W3C trace context `traceparent` (version, trace id, span id, flags)
    re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
)
# Binary files by their signature (images, fonts: a favicon, a logo in base64) are files,
# not keys, whatever their entropy.
FILE_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a", b"\xff\xd8\xff", b"\x00\x00\x01\x00",
    b"wOFF", b"wOF2", b"RIFF",
)  # fmt: skip
# A name Kubernetes generated or hashed (kustomize's `synapse-config-5c8d7f9g2h`, a
# pod-template hash): words, then one short segment of 5 to 10 characters.
GENERATED_NAME = re.compile(r"^(?P<stem>[a-z0-9]+(-[a-z0-9]+)*)-(?P<suffix>[a-z0-9]{5,10})$")
# A random-looking value under a key (or inside a mapping) with one of these words is
# public: public keys (`wg_peer_public`, `recaptcha_public_key`, Synapse's
# `trusted_key_servers[].verify_keys`), recipients, digests and fingerprints in any case
# and length, commits, identifiers. A hex string elsewhere (`openssl rand -hex 32`, MAS'
# `secrets.encryption`) is a random key.
PUBLIC_WORDS = frozenset(
    {
        "public", "pub", "pubkey", "publickey", "verify", "verification", "trusted",
        "recipient", "recipients", "fingerprint", "fingerprints", "checksum", "checksums",
        "digest", "sha", "sha1", "sha256", "sha384", "sha512", "md5", "integrity", "hash",
        "commit", "revision", "rev", "tag", "tags", "version", "etag", "id", "ids", "ulid",
        "uuid", "kid", "cid",
        "cert", "certificate", "certificates", "crt", "ca",
    }
)  # fmt: skip
# Keys whose values are public key material by the upstream's documentation: Synapse's
# `old_signing_keys` and `trusted_key_servers` hold verify keys, ssh's known hosts and
# authorized keys hold public keys.
PUBLIC_KEY_NAMES = frozenset(
    {"old_signing_keys", "trusted_key_servers", "authorized_keys", "known_hosts", "jwks"}
)
# A key whose last word is `account` holds an account's name or id (a Twilio account SID);
# the account's key is named `account_key` (rule 1).
ACCOUNT_WORDS = frozenset({"account"})
# A CAPTCHA's site key (reCAPTCHA, hCaptcha, Turnstile: `recaptcha_site_key`, `sitekey`)
# is written into the page's HTML; its secret is the `secret_key`.
SITE_KEY_PHRASES = frozenset({("site", "key"), ("sitekey",)})
# Words that say the value is the *name* of an object (`configMapRef`, `secretName`): a
# DNS-1123 name under them is a name.
NAME_WORDS = frozenset({"name", "names", "ref", "refs"})
# Members of a JSON Web Key (RFC 7518): the public ones, and the private ones (a key with
# `d` is a private key).
JWK_PUBLIC = frozenset({"n", "e", "x", "y", "crv", "kty", "kid", "alg", "use", "x5c", "x5t"})
JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})

# External Secrets' `fake` provider serves the values written in the SecretStore itself
# (`spec.provider.fake.data[].value`, `.valueMap`): every literal there but the remote
# key's name and version is a secret.
INLINE_SECRET_STORES = (("provider", "fake", "data"),)
INLINE_STORE_NAMES = frozenset({"key", "version"})
# A Kubernetes Secret written into the catalog (`kind: Secret`, its `data:` in base64 or its
# `stringData:`) holds secrets by its kind, whatever its keys are called
# (`stringData: {cloudflare: ...}`): a one-line value is reported unless it is plainly no
# secret (a word, a number, a host, a path, a URL without credentials) or sits under a key
# that names what it is (`username`, `url`, an ArgoCD repository Secret's `type`, a
# certificate `tls.crt`). A file in it (several lines, JSON) is judged by its lines.
SECRET_OBJECT_KINDS = frozenset({"Secret"})
# a key named like a file (`config.yaml`, `my.cnf`) holds a file, judged by its lines
FILE_TYPES = frozenset(
    {"yaml", "yml", "json", "conf", "cfg", "ini", "cnf", "toml", "xml", "properties", "txt",
     "env", "sh", "pem", "crt", "html", "js", "py", "rb", "php", "lua", "tpl", "j2"}
)  # fmt: skip
SECRET_OBJECT_DATA = frozenset({"data", "stringData"})
SECRET_OBJECT_NAMES = frozenset(
    {"username", "user", "login", "email", "url", "uri", "host", "hostname", "server", "port",
     "type", "name", "project", "region", "database", "endpoint", "issuer", "realm",
     "namespace", "insecure", "enable", "enabled", "mode", "scheme", "protocol", "path",
     "path-style", "bucket", "account"}
)  # fmt: skip

# --- an env entry whose name the catalog does not show ---------------------------------------
# A JSON patch that sets `.../env/3/value` writes into an env entry chosen by position:
# the catalog does not say which variable it is. Its literal is reported unless it is
# plainly not a secret (a number, a size or a duration, one word, a host, a path, a URL
# without credentials): a reviewer cannot clear what they cannot name, and a patch by
# name (a strategic merge `{name: X, value: Y}`) says what it sets.
ENV_BY_INDEX = re.compile(r"/env/\d+/value$")
PLAINLY_NOT_SECRET = re.compile(
    r"^(\d+(\.\d+)*[A-Za-z]{0,3}|[A-Za-z]+([-_.][A-Za-z]+)*"
    r"|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+(:\d+)?|/\S*|[a-z][a-z0-9+.-]*://\S*)$"
)
# config files: `key = value`, `KEY=value`, `key: value`, and `key value` (redis,
# nslcd, slapd: `requirepass x`, `bindpw x`, lower-case keys only, one token of value)
# LDIF writes a base64 value after `::` (`userPassword:: e1NTSEF9...`); npm's `.npmrc`
# scopes a key to a registry (`//npm.example/:_authToken=...`)
LINE = re.compile(
    r"^\s*(?:export\s+|-\s+|//[^\s:]+:)?[\"']?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)[\"']?"
    r"\s*(=|:(?=\s|$)|(?<=\w)::(?=\s))\s*(?P<value>.*)$"  # not Haskell's `password :: String`
)
SPACED_LINE = re.compile(r"^\s*(?P<key>[a-z_][a-z0-9_]*)\s+(?P<value>\S+)\s*$")
