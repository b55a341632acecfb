// Package sse reads and writes Server-Sent Events (text/event-stream) over
// byte slices without allocating on the hot path.
//
// It owns the wire format only: Scanner splits an upstream stream into events
// following the WHATWG "event stream interpretation" rules, and the Append*
// helpers encode events for the client. It knows nothing about OpenAI,
// Anthropic or Gemini payloads; core/provider and core/api import it to relay
// token streams. It imports nothing from Tollgate.
//
// Bytes are not UTF-8 validated or replaced: the gateway relays JSON payloads
// byte for byte, so invalid sequences pass through unchanged.
package sse

import "errors"

// DefaultMaxEvent is the event size limit NewScanner uses when given a
// non-positive limit.
const DefaultMaxEvent = 16 << 20

// ErrEventTooLarge is returned by Scanner.Err when one event block is longer
// than the scanner's limit. The size counts the block's lines with their line
// endings, comment lines included, but not the blank line that dispatches it;
// comment-only blocks that were skipped do not count towards the next event.
var ErrEventTooLarge = errors.New("sse: event too large")

// Done is the payload OpenAI-style streams send as their last data event.
// Treat it as read-only; IsDone does not depend on it.
var Done = []byte("[DONE]")

// doneString backs IsDone so that a caller mutating Done cannot change it.
const doneString = "[DONE]"

// IsDone reports whether data is exactly the end-of-stream sentinel "[DONE]".
// No whitespace is trimmed: the scanner already strips the one optional space
// after "data:", and upstreams send the sentinel verbatim.
func IsDone(data []byte) bool {
	return string(data) == doneString
}

// Event is one dispatched event. Its slices point into the Scanner's buffers
// and are valid only until the next call to Scanner.Next or Scanner.Reset;
// copy what must outlive that. The slices have their capacity clipped, so
// appending to them never overwrites the scanner's buffers.
type Event struct {
	// Name is the value of the last "event:" field of the event, nil if there
	// was none or it was empty (both mean the default type "message").
	Name []byte

	// Data is the values of the event's "data:" lines joined by "\n". It is
	// empty but non-nil for an event whose only data line is "data:".
	Data []byte

	// ID is the stream's last event ID, as the WHATWG spec defines it: the
	// value of the most recent "id:" field seen so far in the stream (in this
	// event or an earlier one), nil if none was seen or the last one was
	// empty. Values containing NUL are ignored, as the spec requires.
	ID []byte

	// Retry is the stream's reconnection time in milliseconds as set by the
	// most recent valid "retry:" field seen so far in the stream, -1 if none.
	// A valid value is one or more ASCII digits; larger than math.MaxInt
	// saturates.
	Retry int

	// Comments is the number of comment lines (": ...") seen since the
	// previous event was dispatched: those inside this event's block and
	// those in comment-only blocks (keep-alives such as
	// ": OPENROUTER PROCESSING") skipped before it.
	Comments int
}
