#!/usr/bin/env bash
# Test zones of the dns.* checks (tests/it/dns.rs), served by the stack's NSD, and the
# MTA-STS policies served by the stack's nginx. Called by stack.sh (dns_fixtures) with
# STATE, PKI, HOST, DNS_PORT and DKIM_TXT in the environment.
#
# Every audited zone <case>.dns.test is the healthy zone with ONE defect, DNSSEC-signed with
# its own key (ldns-signzone); $STATE/dns/trust-anchors.key holds every zone's DNSKEY (the
# trust anchors of the [dns] section). Helper zones (unsigned): blocklists bl-*.dns.test,
# ptr.dns.test and the reverse zone 78.0.127.in-addr.arpa (PTR fault addresses 127.0.78.x).
# Writes $STATE/dns/nsd-zones.conf (included by nsd.conf) and
# $STATE/nginx/conf.d/dns-mta-sts.conf (included by nginx.conf). Regenerated when this
# script or the stack's certificate changes (a stamp); keys are kept.
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/on-error.sh"
: "${STATE:?}" "${PKI:?}" "${HOST:?}" "${DKIM_TXT:?}"
MTA_STS_PORT="${MTA_STS_PORT:-13460}"
OUT="$STATE/dns"
SELF="${BASH_SOURCE[0]}"
mkdir -p "$OUT/keys" "$OUT/zones" "$OUT/www" "$STATE/nginx/conf.d"
stamp="$(cat "$SELF" "$PKI/server.crt" | sha256sum | cut -d' ' -f1)"
if [[ -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$stamp" && -f "$OUT/nsd-zones.conf" ]]; then
  exit 0
fi

# The audited zones: the healthy one and one per defect.
CASES=(ok mx-missing mx-unresolved spf-two spf-pass-all spf-softfail spf-lookups spf-void
  spf-unauth dkim-missing dkim-1024 dkim-garbage dmarc-missing dmarc-none dmarc-norua
  mta-sts-mismatch tlsrpt-missing tlsa-mismatch dnssec-bogus)

# TLSA 3 1 1 of the stack's SMTP certificate (SHA-256 of its SubjectPublicKeyInfo).
tlsa_hash="$(openssl x509 -in "$PKI/server.crt" -noout -pubkey | openssl pkey -pubin -outform DER | sha256sum | cut -d' ' -f1)"

# A 1024-bit DKIM key (dkim-1024), made once.
if [[ ! -f "$OUT/keys/dkim1024.pub" ]]; then
  openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out "$OUT/keys/dkim1024.key"
  openssl pkey -in "$OUT/keys/dkim1024.key" -pubout -out "$OUT/keys/dkim1024.pub"
fi
txt_of_pub() {
  local b64 txt out="" i
  b64="$(grep -v '^-----' "$1" | tr -d '\n')"
  txt="v=DKIM1; k=rsa; p=$b64"
  for ((i = 0; i < ${#txt}; i += 255)); do out+="${out:+ }\"${txt:i:255}\""; done
  printf '%s' "$out"
}

# zone CASE: the zone text of <CASE>.dns.test.
zone() {
  local c="$1" d="$1.dns.test"
  local mx="@ IN MX 10 mx.$d."
  local spf="@ IN TXT \"v=spf1 mx include:_spf.$d -all\""
  local dkim="default._domainkey IN TXT ( $DKIM_TXT )"
  local dmarc="_dmarc IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@$d\""
  local tlsrpt="_smtp._tls IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@$d\""
  local tlsa="_25._tcp.mx IN TLSA 3 1 1 $tlsa_hash"
  local extra=""
  case "$c" in
    mx-missing) mx="" spf="@ IN TXT \"v=spf1 ip4:$HOST -all\"" ;;
    mx-unresolved) mx="@ IN MX 10 mx.$d."$'\n'"@ IN MX 20 nohost.$d." ;;
    spf-two) extra="@ IN TXT \"v=spf1 ip4:$HOST ~all\"" ;;
    spf-pass-all) spf="@ IN TXT \"v=spf1 mx +all\"" ;;
    spf-softfail) spf="@ IN TXT \"v=spf1 mx ~all\"" ;;
    spf-lookups)
      # (two character-strings: one is at most 255 bytes; receivers concatenate them)
      spf="@ IN TXT ( \"v=spf1 ip4:$HOST mx a include:i1.$d include:i2.$d include:i3.$d include:i4.$d \" \"include:i5.$d include:i6.$d include:i7.$d include:i8.$d include:i9.$d -all\" )"
      for i in 1 2 3 4 5 6 7 8 9; do extra+="i$i IN TXT \"v=spf1 ip4:192.0.2.$i -all\""$'\n'; done ;;
    spf-void) spf="@ IN TXT \"v=spf1 mx a:void1.$d a:void2.$d a:void3.$d -all\"" ;;
    spf-unauth) spf="@ IN TXT \"v=spf1 ip4:127.0.77.200 -all\"" ;;
    dkim-missing) dkim="" ;;
    dkim-1024) dkim="default._domainkey IN TXT ( $(txt_of_pub "$OUT/keys/dkim1024.pub") )" ;;
    dkim-garbage) dkim="default._domainkey IN TXT \"v=DKIM1; k=rsa; p=QUJDREVGR0g=\"" ;;
    dmarc-missing) dmarc="" ;;
    dmarc-none) dmarc="_dmarc IN TXT \"v=DMARC1; p=none; rua=mailto:dmarc@$d\"" ;;
    dmarc-norua) dmarc="_dmarc IN TXT \"v=DMARC1; p=quarantine\"" ;;
    tlsrpt-missing) tlsrpt="" ;;
    tlsa-mismatch) tlsa="_25._tcp.mx IN TLSA 3 1 1 $(printf '%064d' 0)" ;;
  esac
  cat <<ZONE
\$ORIGIN $d.
\$TTL 300
@ IN SOA ns1.$d. hostmaster.$d. 2024010101 3600 900 604800 300
@ IN NS ns1.$d.
ns1 IN A $HOST
@ IN A $HOST
mx IN A $HOST
mta-sts IN A $HOST
$mx
$spf
_spf IN TXT "v=spf1 ip4:$HOST -all"
$dkim
$dmarc
_mta-sts IN TXT "v=STSv1; id=20240101T000000"
$tlsrpt
$tlsa
$extra
ZONE
}

# policy CASE: the MTA-STS policy of <CASE>.dns.test.
policy() {
  local d="$1.dns.test" mx="mx.$1.dns.test"
  [[ "$1" == mta-sts-mismatch ]] && mx="mx.elsewhere.example"
  [[ "$1" == mx-unresolved ]] && mx="*.$d"
  printf 'version: STSv1\r\nmode: enforce\r\nmx: %s\r\nmax_age: 604800\r\n' "$mx"
}

conf="$OUT/nsd-zones.conf.tmp"
: >"$conf"
: >"$OUT/trust-anchors.key.tmp"
sans=""
for c in "${CASES[@]}"; do
  d="$c.dns.test"
  zone "$c" >"$OUT/zones/$d.zone.unsigned"
  if [[ ! -f "$OUT/keys/$d.key" ]]; then
    (cd "$OUT/keys" && k="$(ldns-keygen -a ECDSAP256SHA256 -k "$d")" &&
      mv "$k.key" "$d.key" && mv "$k.private" "$d.private" && rm -f "$k.ds")
  fi
  ldns-signzone -e 20400101000000 -f "$OUT/zones/$d.zone" "$OUT/zones/$d.zone.unsigned" "$OUT/keys/$d" >/dev/null
  if [[ "$c" == dnssec-bogus ]]; then
    # Corrupt the signature of the MX RRset: one base64 character changed, still well formed.
    awk '$4 == "RRSIG" && $5 == "MX" && !done { n = length($NF); c = substr($NF, n - 4, 1);
      $NF = substr($NF, 1, n - 5) (c == "A" ? "B" : "A") substr($NF, n - 3); done = 1 } { print }' \
      "$OUT/zones/$d.zone" >"$OUT/zones/$d.zone.tmp" && mv -f "$OUT/zones/$d.zone.tmp" "$OUT/zones/$d.zone"
  fi
  grep -v '^;' "$OUT/keys/$d.key" | sed 's/;.*$//' >>"$OUT/trust-anchors.key.tmp"
  printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n\n' "$d" "$OUT/zones/$d.zone" >>"$conf"
  mkdir -p "$OUT/www/mta-sts.$d/.well-known"
  policy "$c" >"$OUT/www/mta-sts.$d/.well-known/mta-sts.txt"
  sans+="${sans:+,}DNS:mta-sts.$d"
done

# Helper zones: blocklists, PTR targets, the 127.0.78.0/24 reverse zone.
helper() {
  local d="$1"
  shift
  {
    printf '$ORIGIN %s.\n$TTL 300\n@ IN SOA ns1.dns.test. hostmaster.dns.test. 2024010101 3600 900 604800 300\n@ IN NS ns1.dns.test.\n' "$d"
    printf '%s\n' "$@"
  } >"$OUT/zones/$d.zone"
  printf 'zone:\n    name: "%s"\n    zonefile: "%s"\n\n' "$d" "$OUT/zones/$d.zone" >>"$conf"
}
# Clean list: only the conventional test entry 127.0.0.2.
helper bl-clean.dns.test "2.0.0.127 IN A 127.0.0.2"
# A list naming the stack's address (1.77.0.127 for 127.0.77.1).
helper bl-listed.dns.test "2.0.0.127 IN A 127.0.0.2" "1.77.0.127 IN A 127.0.0.2" "1.77.0.127 IN TXT \"listed for tests\""
# A list that refuses the resolver (Spamhaus: 127.255.255.254 for queries through open resolvers).
helper bl-refusing.dns.test "* IN A 127.255.255.254"
# PTR targets: a name that does not resolve back to its address.
helper ptr.dns.test "fcrdns-broken IN A 127.0.78.99"
# 127.0.78.3: no PTR; 127.0.78.4: PTR not forward-confirmed.
helper 78.0.127.in-addr.arpa "4 IN PTR fcrdns-broken.ptr.dns.test."
mv -f "$conf" "$OUT/nsd-zones.conf"
mv -f "$OUT/trust-anchors.key.tmp" "$OUT/trust-anchors.key"

# MTA-STS: a certificate for every mta-sts.<case>.dns.test under the stack's intermediate, and
# an nginx server on $MTA_STS_PORT serving $OUT/www/<host>/.well-known/mta-sts.txt.
mkdir -p "$OUT/mta-sts"
(
  cd "$OUT/mta-sts"
  [[ -f key.pem ]] || openssl genpkey -quiet -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out key.pem
  openssl req -new -key key.pem -subj "/C=FR/O=TEST MSSANTE DIAG/CN=mta-sts.ok.dns.test" -out cert.csr
  printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$sans" >ext.cnf
  openssl x509 -req -in cert.csr -CA "$PKI/intermediate.pem" -CAkey "$PKI/intermediate.key" \
    -set_serial "0x$(openssl rand -hex 16)" -days 365 -sha256 -extfile ext.cnf -out cert.pem 2>/dev/null
  cat cert.pem "$PKI/intermediate.pem" >fullchain.pem
  rm -f cert.csr ext.cnf
  chmod 600 key.pem
)
chmod -R a+rX "$OUT/www"
cat >"$STATE/nginx/conf.d/dns-mta-sts.conf" <<NGINX
# MTA-STS policies of the dns.* test zones (tests/stack/dns-zones.sh).
server {
  listen $HOST:$MTA_STS_PORT ssl;
  server_name _;
  ssl_certificate     $OUT/mta-sts/fullchain.pem;
  ssl_certificate_key $OUT/mta-sts/key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  location = /.well-known/mta-sts.txt {
    root $OUT/www/\$host;
    default_type text/plain;
  }
  location / {
    return 404;
  }
}
NGINX
printf '%s\n' "$stamp" >"$OUT/.stamp"
