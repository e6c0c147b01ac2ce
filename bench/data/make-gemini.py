#!/usr/bin/env python3
#
# bench/data/make-gemini.py: writes the upstream answers of the gemini-chat
# and gemini-stream benchmark scenarios.  They are constructed for the
# benchmark, not recorded traffic: the keys, their order and the framing
# follow the recorded samples t/fixtures/gemini_generate_response.json
# (generateContent) and t/fixtures/gemini_stream_basic.sse
# (streamGenerateContent?alt=sse); the text is filler from a seeded
# generator, so the files are the same on every run of this script.
#
#   gemini_text.txt                 the answer's text (UTF-8, ~1 KB)
#   gemini_generate_response.json   one GenerateContentResponse with that
#                                   text, indented like the sample
#   gemini_stream.sse               20 events of ~50 bytes of text each,
#                                   "data: <json>\r\n\r\n" as Gemini frames
#                                   them live; every event carries the
#                                   cumulative usageMetadata, the last one
#                                   finishReason "STOP" and the final usage
#
# Usage: python3 bench/data/make-gemini.py   (from anywhere)

import copy
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "t", "fixtures")

EVENTS = 20
EVENT_TEXT = 50          # bytes of text per event, about
PROMPT_TOKENS = 18       # the bench request's two messages, about
MODEL = "gemini-2.0-flash"

WORDS = """the a of in on with for and to by from over under near
morning afternoon evening tonight tomorrow weekend coast bay city hills
fog wind breeze clouds sun showers drizzle marine layer temperature
humidity forecast pressure front ocean valley bridge downtown district
light moderate steady gusty cool mild warm clear partly mostly patchy
brief scattered dry bright pleasant typical seasonal coastal inland
expect see bring keep stay turn clear lift reach settle drift move build
around about between likely usually later early""".split()


def filler(rng, n, sentence, paragraph):
    """~n bytes of filler words.  A chunk starts with a space (a token
    boundary, as Gemini's chunks mostly do) unless it opens a paragraph;
    the first word of a sentence is capitalized."""
    out = ""
    while len(out.encode()) < n:
        w = rng.choice(WORDS)
        if sentence and not out:
            w = w.capitalize()
        out += ("" if paragraph and not out else " ") + w
    return out


def chunks(rng):
    parts = []
    sentence, paragraph = True, True
    for i in range(EVENTS):
        t = filler(rng, EVENT_TEXT - 4, sentence, paragraph)
        sentence, paragraph = False, False
        if i == 0:
            t = "**Forecast:** " + t
        if i == 9:
            t += ", about 18 \u00b0C"
        if i == EVENTS - 1:
            t += ".\n"
        elif i in (6, 13):
            t += ".\n\n"
            sentence, paragraph = True, True
        elif i % 5 == 4:
            t += "."
            sentence = True
        parts.append(t)
    return parts


def tokens(text):
    return max(1, round(len(text.encode()) / 4))


def usage(template, candidates):
    u = copy.deepcopy(template)
    u["promptTokenCount"] = PROMPT_TOKENS
    u["candidatesTokenCount"] = candidates
    u["totalTokenCount"] = PROMPT_TOKENS + candidates
    u["promptTokensDetails"][0]["tokenCount"] = PROMPT_TOKENS
    u["candidatesTokensDetails"][0]["tokenCount"] = candidates
    return u


def main():
    rng = random.Random(20250101)
    parts = chunks(rng)
    text = "".join(parts)
    total = sum(tokens(p) for p in parts)

    # non-stream: the sample with this text and these counts
    with open(os.path.join(FIXTURES, "gemini_generate_response.json")) as f:
        doc = json.load(f)
    doc["candidates"][0]["content"]["parts"][0]["text"] = text
    doc["candidates"][0]["avgLogprobs"] = -0.21843672
    doc["usageMetadata"] = usage(doc["usageMetadata"], total)
    doc["modelVersion"] = MODEL

    # stream: the sample's first event for the text events, its last one
    # (finishReason, full usage) for the final event; every event gets the
    # last event's usageMetadata keys with the counts so far
    with open(os.path.join(FIXTURES, "gemini_stream_basic.sse"), "rb") as f:
        sample = [json.loads(e[len(b"data: "):])
                  for e in f.read().split(b"\r\n\r\n") if e.strip()]
    first, last = sample[0], sample[-1]

    events = []
    so_far = 0
    for i, p in enumerate(parts):
        ev = copy.deepcopy(last if i == EVENTS - 1 else first)
        ev["candidates"][0]["content"]["parts"][0]["text"] = p
        so_far += tokens(p)
        ev["usageMetadata"] = usage(last["usageMetadata"], so_far)
        ev["modelVersion"] = MODEL
        events.append(ev)

    # the samples' own layouts: the unary answer indented by 2 with a final
    # newline, each event on one line with ": " after keys and bare ","
    with open(os.path.join(HERE, "gemini_text.txt"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(HERE, "gemini_generate_response.json"), "w",
              encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    with open(os.path.join(HERE, "gemini_stream.sse"), "wb") as f:
        for ev in events:
            f.write(b"data: "
                    + json.dumps(ev, separators=(",", ": "),
                                 ensure_ascii=False).encode()
                    + b"\r\n\r\n")


if __name__ == "__main__":
    main()
