#!/usr/bin/env bash
# Try mssante-diag without a platform: brings the test stack up (stack.sh up: Debian packages,
# services on 127.0.77.1 only, a test PKI), writes its project folder (write-project.sh) and
# prints that folder with the commands to run against it: a healthy run, a real fault, the fix.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bash "$here/stack.sh" up >&2
project="$(bash "$here/write-project.sh" | tail -n 1)"
cat <<TEXT
The test stack is up; its project folder (pass it to --project) is:

  $project

Try, from the repository:

  cargo run --release -p mssante-diag-cli -- --project $project quick      # all ok
  bash tests/stack/stack.sh stop redis                                      # inject a real fault
  cargo run --release -p mssante-diag-cli -- --project $project quick      # redis.reachable critical, with the guide's remedy
  bash tests/stack/stack.sh start redis                                     # and back to ok
  cargo run --release -p mssante-diag-cli -- --project $project config     # every value and where it comes from
TEXT
