#!/bin/bash
# The guide's scripts/diagnostic/quick-check.sh (section "Vérification rapide"),
# health-check part, with its endpoints made configurable so a benchmark can point
# it at loopback test targets. Each probe keeps the guide's tool; `docker compose
# exec` is replaced by the same client run on the host, and curl/pg_isready/redis-cli
# get the same per-probe timeout as mssante-diag (the guide's curl has none and
# would wait forever on a hung API).
# Usage: quick-check.sh HOST API_PORT PG_PORT REDIS_PORT SMTP_PORT IMAP_PORT TIMEOUT
H=$1 API=$2 PG=$3 REDIS=$4 SMTP=$5 IMAP=$6 T=$7

echo "🏥 4. Health checks:"
echo -n "  API: "
curl -f -s --max-time "$T" "http://$H:$API/health" > /dev/null && echo "✅ OK" || echo "❌ ERREUR"

echo -n "  PostgreSQL: "
pg_isready -h "$H" -p "$PG" -t "$T" -U mssante > /dev/null 2>&1 && echo "✅ OK" || echo "❌ ERREUR"

echo -n "  Redis: "
timeout "$T" redis-cli -h "$H" -p "$REDIS" ping > /dev/null 2>&1 && echo "✅ OK" || echo "❌ ERREUR"

echo -n "  SMTP: "
timeout "$T" bash -c "</dev/tcp/$H/$SMTP" 2>/dev/null && echo "✅ OK" || echo "❌ ERREUR"

echo -n "  IMAP: "
timeout "$T" bash -c "</dev/tcp/$H/$IMAP" 2>/dev/null && echo "✅ OK" || echo "❌ ERREUR"
