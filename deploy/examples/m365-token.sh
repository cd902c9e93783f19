#!/bin/sh
# m365-token.sh — print an OAuth2 access token for Exchange Online IMAP and SMTP (XOAUTH2),
# obtained with the client-credentials flow of a Microsoft Entra ID app registration.
#
# UNTESTED: written from Microsoft's documentation ("Authenticate an IMAP, POP or SMTP
# connection using OAuth", client credentials grant); the machine this was written on has no
# outside network, so it has never talked to login.microsoftonline.com. Try it by hand first
# (as root, reading the files in /etc/vardval; prints only the start of the token):
#   M365_CREDENTIALS_DIR=/etc/vardval /usr/local/lib/vardval/m365-token.sh | cut -c1-20
#
# Used from the config as
#   [mailbox]
#   oauth2_token_command = "/usr/local/lib/vardval/m365-token.sh"
# and for sending through smtp.office365.com the same line under [smtp] (the app then also
# needs the application permission SMTP.SendAsApp, see docs/configuration.md).
# vardval runs it with `sh -c` in the service's environment and takes the first line of
# stdout as the bearer token. A non-zero exit or empty output is reported as
# "cannot get secret".
#
# Inputs: three files in $CREDENTIALS_DIRECTORY (systemd LoadCredential=, see
# deploy/vardval.service), or in $M365_CREDENTIALS_DIR when that is set (e.g. /run/secrets
# in a container):
#   m365-tenant-id       Directory (tenant) ID, a GUID (or the tenant's domain name)
#   m365-client-id       Application (client) ID of the app registration
#   m365-client-secret   a client secret value of that app registration
# Optional: M365_SCOPE (default https://outlook.office365.com/.default).
#
# What the tenant administrator has to set up (once):
#  1. Entra ID > App registrations > New registration (single tenant). Note the tenant ID and
#     the application (client) ID. Certificates & secrets > New client secret; note the value
#     and its expiry date (put a reminder in the calendar: when it expires, IMAP login fails).
#  2. API permissions > Add a permission > APIs my organization uses > "Office 365 Exchange
#     Online" > Application permissions > IMAP.AccessAsApp. Grant admin consent.
#  3. In Exchange Online PowerShell (module ExchangeOnlineManagement), register the app's
#     service principal and give it the shared mailbox, and nothing else:
#       Connect-ExchangeOnline -Organization <tenant-id>
#       New-ServicePrincipal -AppId <application-client-id> -ObjectId <object-id>
#       Add-MailboxPermission -Identity "vardval@example.se" -User <object-id> -AccessRights FullAccess
#     <object-id> is the Object ID shown under Entra ID > *Enterprise applications* for the
#     app, not the one under App registrations. (Older documentation writes -ServiceId for
#     -ObjectId.)
#  4. IMAP must be enabled for the mailbox (Set-CASMailbox -Identity vardval@example.se
#     -ImapEnabled $true).
# The IMAP username in the config is the shared mailbox's address.
#
# Token lifetime: about 60-90 minutes. vardval fetches the token once, when it starts, and
# reuses it for every reconnect; Exchange Online ends IMAP sessions whose token has expired.
# Until vardval fetches a fresh token on reconnect, restart the service more often than the
# token lives (docs/production.md, "Microsoft 365").

set -eu

dir="${M365_CREDENTIALS_DIR:-${CREDENTIALS_DIRECTORY:-}}"
if [ -z "$dir" ]; then
    echo "m365-token.sh: neither CREDENTIALS_DIRECTORY nor M365_CREDENTIALS_DIR is set" >&2
    exit 2
fi

read_cred() {
    if [ ! -r "$dir/$1" ]; then
        echo "m365-token.sh: cannot read $dir/$1" >&2
        exit 2
    fi
    # First line, without trailing CR/LF or surrounding blanks.
    head -n 1 "$dir/$1" | tr -d '\r\n' | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'
}

tenant="$(read_cred m365-tenant-id)"
client_id="$(read_cred m365-client-id)"
client_secret="$(read_cred m365-client-secret)"
scope="${M365_SCOPE:-https://outlook.office365.com/.default}"

# The secret goes to curl on stdin (--data-urlencode name@-), not on the command line, so it
# does not show up in `ps`.
response="$(
    printf '%s' "$client_secret" | curl --silent --show-error --fail-with-body \
        --max-time 30 --retry 2 --proto '=https' --tlsv1.2 \
        --data-urlencode "client_id=$client_id" \
        --data-urlencode "scope=$scope" \
        --data-urlencode "grant_type=client_credentials" \
        --data-urlencode "client_secret@-" \
        "https://login.microsoftonline.com/$tenant/oauth2/v2.0/token"
)" || {
    # Entra ID explains refusals in error/error_description (no secret in there).
    echo "m365-token.sh: token request failed: $(printf '%s' "${response:-}" | head -c 500)" >&2
    exit 1
}

# {"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"eyJ0..."}
if command -v jq >/dev/null 2>&1; then
    token="$(printf '%s' "$response" | jq -r '.access_token // empty')"
else
    token="$(printf '%s' "$response" | tr -d '\n' | sed -n 's/.*"access_token"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')"
fi

if [ -z "$token" ]; then
    echo "m365-token.sh: no access_token in the response" >&2
    exit 1
fi
printf '%s\n' "$token"
