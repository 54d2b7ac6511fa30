#!/usr/bin/env bash
# [postgres.reserved] of the test project: the stack's superuser, used by the postgres.*
# checks only when the server refuses the platform's role with "too many clients".
# Test-only password, inline. Usage: postgres.sh TOML_FILE (called by write-project.sh).
set -Eeuo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../on-error.sh"
STATE="${MSSANTE_STACK_DIR:-/tmp/mssante-diag-stack}"
# shellcheck disable=SC1091
source "$STATE/stack.env"
cat >>"$1" <<TOML

[postgres.reserved]
user = "$PG_SUPERUSER"
password = "$PG_SUPERPASSWORD"
TOML

# The platform's schema in the stack's own database (once), and the migration files that
# built it in the project folder, so a healthy `check` has every postgres.* check to judge.
PROJECT_DIR="$(dirname "$1")"
mkdir -p "$PROJECT_DIR/database/migrations"
printf 'CREATE TABLE users (...);\nCREATE TABLE mailboxes (...);\n' >"$PROJECT_DIR/database/migrations/001_schema.sql"
printf 'CREATE TABLE audit_logs (...);\n' >"$PROJECT_DIR/database/migrations/002_audit_logs.sql"
export PGPASSWORD="$PG_PASSWORD"
psql -q -X -v ON_ERROR_STOP=1 -h "$STACK_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" >/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS users (id serial PRIMARY KEY, rpps_id text NOT NULL, name text NOT NULL);
CREATE INDEX IF NOT EXISTS idx_users_rpps ON users (rpps_id);
CREATE TABLE IF NOT EXISTS mailboxes (id serial PRIMARY KEY, user_id int NOT NULL REFERENCES users (id), email text NOT NULL);
CREATE INDEX IF NOT EXISTS idx_mailboxes_email ON mailboxes (email);
CREATE TABLE IF NOT EXISTS audit_logs (id bigserial PRIMARY KEY, action text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE IF NOT EXISTS schema_migrations (version text PRIMARY KEY, dirty boolean NOT NULL DEFAULT false, applied_at timestamptz NOT NULL DEFAULT now());
INSERT INTO schema_migrations (version) VALUES ('001'), ('002') ON CONFLICT DO NOTHING;
INSERT INTO users (rpps_id, name) SELECT lpad(g::text, 11, '1'), 'Dr ' || g FROM generate_series(1, 50) g WHERE NOT EXISTS (SELECT 1 FROM users);
INSERT INTO mailboxes (user_id, email) SELECT id, 'dr' || id || '@mssante.test' FROM users WHERE NOT EXISTS (SELECT 1 FROM mailboxes);
SQL
# docs/least-privilege.md: the monitoring role's two narrow reads (versions; one date column).
psql -q -X -v ON_ERROR_STOP=1 -h "$STACK_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" >/dev/null <<SQL
GRANT SELECT ON schema_migrations TO $PG_GRANTED_USER;
GRANT SELECT (created_at) ON audit_logs TO $PG_GRANTED_USER;
SQL
