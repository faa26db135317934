#!/usr/bin/env bash
# Sends one of the sample GitHub deliveries in webhooks/samples/ to a tidegate server, signed
# the way GitHub signs it: X-Hub-Signature-256 = "sha256=" + hex HMAC-SHA256 of the exact body
# bytes, keyed with the webhook secret.
#
#   TIDEGATE_WEBHOOK_SECRET=... webhooks/send-sample.sh EVENT [URL]
#
#   EVENT  push | pull_request | issue_comment | ping  (any samples/EVENT.json with EVENT.headers)
#   URL    default http://$TIDEGATE_LISTEN/webhooks/github, or http://127.0.0.1:8080/webhooks/github
#
# Environment:
#   TIDEGATE_WEBHOOK_SECRET  required; the same secret the server was started with
#   SAMPLE_DELIVERY_ID       optional; replaces the sample's X-GitHub-Delivery (a server may treat
#                            a repeated delivery id as a redelivery of the same event)
#
# Prints the server's answer and the HTTP status; exits non-zero when the server does not
# answer 2xx.
set -euo pipefail

usage() {
  sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

if [[ $# -lt 1 || $# -gt 2 || "${1}" == "-h" || "${1}" == "--help" ]]; then
  usage
fi

event="${1}"
url="${2:-http://${TIDEGATE_LISTEN:-127.0.0.1:8080}/webhooks/github}"
samples_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/samples"
body_file="${samples_dir}/${event}.json"
headers_file="${samples_dir}/${event}.headers"

if [[ ! "${event}" =~ ^[a-z_]+$ || ! -f "${body_file}" || ! -f "${headers_file}" ]]; then
  echo "send-sample.sh: no sample for event '${event}'; available:" >&2
  for f in "${samples_dir}"/*.json; do
    name="$(basename "${f}" .json)"
    echo "  ${name}" >&2
  done
  exit 2
fi

if [[ -z "${TIDEGATE_WEBHOOK_SECRET:-}" ]]; then
  echo "send-sample.sh: set TIDEGATE_WEBHOOK_SECRET to the server's webhook secret" >&2
  exit 2
fi

# HMAC over the file exactly as stored (trailing newline included): curl --data-binary sends
# the same bytes. `openssl dgst` prints "HMAC-SHA2-256(stdin)= <hex>" (the label differs between
# OpenSSL versions), so take the last field.
digest="$(openssl dgst -sha256 -hmac "${TIDEGATE_WEBHOOK_SECRET}" < "${body_file}" | awk '{print $NF}')"
if [[ ! "${digest}" =~ ^[0-9a-f]{64}$ ]]; then
  echo "send-sample.sh: unexpected openssl output: ${digest}" >&2
  exit 1
fi

curl_args=(
  --silent
  --show-error
  --request POST
  --data-binary "@${body_file}"
  --header "X-Hub-Signature-256: sha256=${digest}"
  --write-out '\nHTTP %{http_code}\n'
)

while IFS= read -r line || [[ -n "${line}" ]]; do
  line="${line%$'\r'}"
  if [[ -z "${line}" || "${line}" == \#* ]]; then
    continue
  fi
  if [[ -n "${SAMPLE_DELIVERY_ID:-}" && "${line}" == X-GitHub-Delivery:* ]]; then
    line="X-GitHub-Delivery: ${SAMPLE_DELIVERY_ID}"
  fi
  curl_args+=(--header "${line}")
done < "${headers_file}"

delivery="$(grep -i '^X-GitHub-Delivery:' "${headers_file}" | awk '{print $2}' | tr -d '\r')"
echo "POST ${url}  event=${event}  delivery=${SAMPLE_DELIVERY_ID:-${delivery}}  $(wc -c < "${body_file}" | tr -d ' ') bytes" >&2

response="$(curl "${curl_args[@]}" "${url}")"
echo "${response}"
status="${response##*HTTP }"
if [[ ! "${status}" =~ ^2[0-9][0-9]$ ]]; then
  exit 1
fi
