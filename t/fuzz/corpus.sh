#!/usr/bin/env bash
#
# t/fuzz/corpus.sh OUT: seed corpora for the fuzz targets, made from the
# recorded samples of t/fixtures (see t/fixtures/SOURCES.md).
#
#   OUT/scan/         each Gemini answer, and each event of each Gemini
#                     stream, as one JSON document; and each stream's
#                     events separated by blank lines
#   OUT/translators/  the same samples with the target byte in front
#                     (fuzz_translators.c): OpenAI requests for the
#                     request parsers, answers for the answer translators,
#                     streams for the stream translators

set -euo pipefail

FIX=$(cd "$(dirname "${BASH_SOURCE[0]}")/../fixtures" && pwd)
OUT=$1

rm -rf "$OUT/scan" "$OUT/translators"
mkdir -p "$OUT/scan" "$OUT/translators"

# target byte: low 2 bits the target (0 requests, 1 answers, 2-3
# streams), 0x04 a stream request, 0x08 links, 0x20 the router, 0x40 a
# model route, 0x80 safety
seed() {
    local name=$1 byte=$2 file=$3
    { printf "\\x$byte"; cat "$file"; } > "$OUT/translators/$name"
}

for f in "$FIX"/gemini_*.json; do
    b=$(basename "$f" .json)
    cp "$f" "$OUT/scan/$b.json"
    seed "$b-answer" 01 "$f"
    seed "$b-answer-stream" 45 "$f"
done

for f in "$FIX"/gemini_stream_*.sse; do
    b=$(basename "$f" .sse)
    n=0
    while IFS= read -r line; do
        n=$((n + 1))
        printf '%s' "${line#data: }" > "$OUT/scan/$b-$n.json"
    done < <(grep '^data: ' "$f" | tr -d '\r')
    # the whole stream's events, one after the other, for the shapes
    grep '^data: ' "$f" | tr -d '\r' | sed 's/^data: //' \
        | awk 'NR > 1 { printf "\n\n" } { printf "%s", $0 }' \
        > "$OUT/scan/$b-all.json"
    seed "$b" 02 "$f"
    seed "$b-links" 4a "$f"
done

for f in "$FIX"/openai_chat_request*.json "$FIX"/gemini_*request*.json; do
    b=$(basename "$f" .json)
    seed "$b" 00 "$f"
    seed "$b-route" c0 "$f"
done

for f in "$FIX"/openai_chat_response*.json "$FIX"/openai_error*.json \
         "$FIX"/hf_*.json "$FIX"/openai_models*.json
do
    seed "$(basename "$f" .json)" 21 "$f"
done

for f in "$FIX"/openai_stream*.sse; do
    seed "$(basename "$f" .sse)" 22 "$f"
done
