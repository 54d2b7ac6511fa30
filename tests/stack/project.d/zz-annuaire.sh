#!/usr/bin/env bash
# [annuaire] of the test project, and its fixtures: a local HTTPS stand-in of the Annuaire Santé
# FHIR API (nginx, $STATE/nginx/conf.d/annuaire.conf, port 13470, the stack's certificate)
# serving static search pages under /fhir/<case>/, and the platform's `mailboxes` table seeded
# with typed mailboxes. Named zz- to run after postgres.sh, which creates the table.
#   ok        every local mailbox of mssante.test published (280 BALs on 11 pages of 30, 10 of
#             them unlisted), ordinary e-mails and BALs of another domain mixed in; requires
#             ESANTE-API-KEY (the .env's ESANTE_API_KEY), else 401
#   planted   as ok, but 3 mailboxes not published (dr3, service7, app2), 3 listed BALs with no
#             local mailbox (new1, new2, orphan-service) and 2 unlisted ones, 2 listed type
#             mismatches (cab5 PER, service9 APP) and 1 unlisted one (dr45 CAB)
#   unauthorized / forbidden / garbage: 401, 403, and HTTP 200 with a body that is not JSON
# Usage: zz-annuaire.sh TOML_FILE (called by write-project.sh, after it wrote .env).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
PROJECT_DIR="$(dirname "$1")"
ENV_FILE="$PROJECT_DIR/.env"
STACK="$(dirname "$0")/../stack.sh"
PORT=13470
KEY=annuaire-test-key-7f3c9a1e
BASE="https://$STACK_HOST:$PORT/fhir"
D="$MAIL_DOMAIN"

# ---- the platform's mailboxes: a type column, and CAB / ORG / APP mailboxes beside dr1..dr50 ----
export PGPASSWORD="$PG_PASSWORD"
psql -q -X -v ON_ERROR_STOP=1 -h "$STACK_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" >/dev/null <<SQL
ALTER TABLE mailboxes ADD COLUMN IF NOT EXISTS type text;
UPDATE mailboxes SET type = 'PER' WHERE type IS NULL AND email LIKE 'dr%';
INSERT INTO mailboxes (user_id, email, type)
  SELECT (SELECT min(id) FROM users), e, t FROM (
    SELECT 'cab' || g || '@$D' AS e, 'CAB' AS t FROM generate_series(1, 40) g
    UNION ALL SELECT 'service' || g || '@$D', 'ORG' FROM generate_series(1, 150) g
    UNION ALL SELECT 'app' || g || '@$D', 'APP' FROM generate_series(1, 40) g) m
  WHERE NOT EXISTS (SELECT 1 FROM mailboxes WHERE email = 'service1@$D');
SQL

# ---- the FHIR stand-in's pages ----
EMAIL_TYPE=https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-contact-point-email-type
META=https://interop.esante.gouv.fr/ig/fhir/annuaire/StructureDefinition/as-ext-mailbox-mss-metadata
LEGACY=https://annuaire.sante.gouv.fr/fhir/StructureDefinition/MailboxMSS
# bal ADDRESS TYPE UNLISTED [FLAG]: a MSSANTE telecom (FLAG: listeRouge, or the older publication)
bal() {
  printf '{"system":"email","value":"%s","extension":[{"url":"%s","valueCoding":{"system":"https://mos.esante.gouv.fr/NOS/TRE_R256-TypeMessagerie/FHIR/TRE-R256-TypeMessagerie","code":"MSSANTE"}},{"url":"%s","extension":[{"url":"type","valueCodeableConcept":{"coding":[{"system":"https://mos.esante.gouv.fr/NOS/TRE_R257-TypeBAL/FHIR/TRE-R257-TypeBAL","code":"%s"}]}},{"url":"%s","valueBoolean":%s},{"url":"digitization","valueBoolean":false}]}]}' \
    "$1" "$EMAIL_TYPE" "$META" "$2" "${4:-listeRouge}" "$3"
}
ordinary() { printf '{"system":"email","value":"%s"}' "$1"; }
# resource TYPE ID TELECOMS [EXTENSIONS]
resource() { printf '{"resource":{"resourceType":"%s","id":"%s","telecom":[%s],"extension":[%s]}}\n' "$1" "$2" "$3" "${4:-}"; }

# lines CASE: one entry per line, per resource type, in $1/lines-<Type>
lines() {
  local c="$1" out="$2" i t u
  : >"$out/lines-Practitioner"; : >"$out/lines-PractitionerRole"; : >"$out/lines-Organization"
  for i in $(seq 1 50); do
    [[ "$c" == planted && "$i" == 3 ]] && continue
    u=false; ((i > 40)) && u=true
    t=PER; [[ "$c" == planted && "$i" == 45 ]] && t=CAB
    if ((i <= 5)); then
      tel="$(bal "dr$i@$D" "$t" "$u" publication),$(ordinary "dr$i.perso@$D")"
      resource Practitioner "p$i" "$tel" >>"$out/lines-Practitioner"
    elif ((i <= 10)); then
      # The legacy v1 extension on the resource, with an ordinary e-mail in telecom.
      resource Practitioner "p$i" "$(ordinary "dr$i@gmail.test")" \
        "{\"url\":\"$LEGACY\",\"extension\":[{\"url\":\"value\",\"valueString\":\"dr$i@$D\"},{\"url\":\"type\",\"valueString\":\"$t\"},{\"url\":\"publication\",\"valueBoolean\":$u}]}" >>"$out/lines-Practitioner"
    else
      tel="$(bal "dr$i@$D" "$t" "$u"),$(bal "dr$i@autre-operateur.test" PER false),{\"system\":\"phone\",\"value\":\"01020304$i\"}"
      resource Practitioner "p$i" "$tel" >>"$out/lines-Practitioner"
    fi
  done
  for i in $(seq 1 40); do
    t=CAB; [[ "$c" == planted && "$i" == 5 ]] && t=PER
    resource PractitionerRole "r$i" "$(bal "cab$i@$D" "$t" false)" >>"$out/lines-PractitionerRole"
  done
  for i in $(seq 1 150); do
    [[ "$c" == planted && "$i" == 7 ]] && continue
    t=ORG; [[ "$c" == planted && "$i" == 9 ]] && t=APP
    resource Organization "o$i" "$(bal "service$i@$D" "$t" false),$(ordinary "accueil$i@$D")" >>"$out/lines-Organization"
  done
  for i in $(seq 1 40); do
    [[ "$c" == planted && "$i" == 2 ]] && continue
    resource Organization "a$i" "$(bal "app$i@$D" APP false)" >>"$out/lines-Organization"
  done
  if [[ "$c" == planted ]]; then
    resource Practitioner new1 "$(bal "new1@$D" PER false)" >>"$out/lines-Practitioner"
    resource Practitioner new2 "$(bal "new2@$D" PER false)" >>"$out/lines-Practitioner"
    resource Practitioner hidden1 "$(bal "hidden1@$D" PER true)" >>"$out/lines-Practitioner"
    resource Organization orphan "$(bal "orphan-service@$D" ORG false)" >>"$out/lines-Organization"
    resource Organization hidden2 "$(bal "hidden2@$D" ORG true)" >>"$out/lines-Organization"
  fi
}

# pages CASE DIR: Bundles of 30 entries; the first at <Type>, the next ones at _page/<Type>-N
pages() {
  local c="$1" dir="$2" type n total f next
  mkdir -p "$dir/_page"
  for type in Practitioner PractitionerRole Organization; do
    rm -f "$dir"/chunk-*
    split -l 30 -d -a 3 "$dir/lines-$type" "$dir/chunk-"
    total="$(find "$dir" -maxdepth 1 -name 'chunk-*' | wc -l)"
    n=1
    for f in $(find "$dir" -maxdepth 1 -name 'chunk-*' | sort); do
      next=""
      ((n < total)) && next=",{\"relation\":\"next\",\"url\":\"$BASE/$c/_page/$type-$((n + 1))\"}"
      {
        printf '{"resourceType":"Bundle","type":"searchset","link":[{"relation":"self","url":"%s/%s/%s"}%s],"entry":[' "$BASE" "$c" "$type" "$next"
        paste -sd, "$f"
        printf ']}\n'
      } >"$( ((n == 1)) && echo "$dir/$type" || echo "$dir/_page/$type-$n")"
      n=$((n + 1))
    done
    rm -f "$dir"/chunk-* "$dir/lines-$type"
  done
  printf '{"resourceType":"CapabilityStatement","status":"active","fhirVersion":"4.0.1","software":{"name":"annuaire stand-in","version":"1"}}\n' >"$dir/metadata"
}

WWW="$STATE/annuaire/www"
if [[ ! -f "$WWW/fhir/planted/metadata" ]]; then
  tmp="$STATE/annuaire/www.tmp.$$"
  rm -rf "$tmp"
  for c in ok planted; do
    mkdir -p "$tmp/fhir/$c"
    lines "$c" "$tmp/fhir/$c"
    pages "$c" "$tmp/fhir/$c"
  done
  chmod -R a+rX "$tmp"
  rm -rf "$WWW" && mv "$tmp" "$WWW"
fi

# ---- nginx: the stand-in's server (included by the stack's nginx.conf) ----
mkdir -p "$STATE/nginx/conf.d"
conf_tmp="$STATE/nginx/conf.d/annuaire.conf.tmp.$$"
cat >"$conf_tmp" <<NGINX
# Annuaire Santé FHIR stand-in (tests/stack/project.d/zz-annuaire.sh)
server {
  listen $STACK_HOST:$PORT ssl;
  server_name _;
  ssl_certificate     $PKI_DIR/fullchain.pem;
  ssl_certificate_key $PKI_DIR/server.key;
  ssl_protocols TLSv1.2 TLSv1.3;
  root $WWW;
  default_type application/fhir+json;
  location /fhir/ok/ {
    if (\$http_esante_api_key != "$KEY") { return 401 '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}'; }
    try_files \$uri =404;
  }
  location /fhir/planted/ {
    if (\$http_esante_api_key != "$KEY") { return 401 '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}'; }
    try_files \$uri =404;
  }
  location /fhir/unauthorized/ { return 401 '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"login"}]}'; }
  location /fhir/forbidden/ { return 403 '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"forbidden"}]}'; }
  location /fhir/garbage/ { return 200 'this is not JSON {'; }
  location / { return 404; }
}
NGINX
if cmp -s "$conf_tmp" "$STATE/nginx/conf.d/annuaire.conf"; then rm -f "$conf_tmp"; else mv -f "$conf_tmp" "$STATE/nginx/conf.d/annuaire.conf"; fi
# A stack whose nginx started before this server existed is restarted once.
if ! curl -fsS --max-time 3 --cacert "$CA_BUNDLE" -H "ESANTE-API-KEY: $KEY" "$BASE/ok/metadata" >/dev/null 2>&1; then
  bash "$STACK" stop nginx >&2 && bash "$STACK" start nginx >&2
fi

# The API key, added once to the .env write-project.sh has just written.
grep -q '^ESANTE_API_KEY=' "$ENV_FILE" || printf 'ESANTE_API_KEY=%s\n' "$KEY" >>"$ENV_FILE"

cat >>"$1" <<TOML

[annuaire]
url = "$BASE/ok"
ca_bundle = "$CA_BUNDLE"
page_size = 30
TOML
