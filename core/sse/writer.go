package sse

import (
	"bytes"
	"strings"
)

// AppendData appends payload to dst as one data event, "data: payload\n\n",
// and returns the extended slice. It does not allocate when dst has enough
// capacity.
//
// A payload holding line breaks (CR, LF or CRLF) is written as one "data:"
// line per line, so a client joins it back with "\n"; a lone CR therefore
// comes back as LF, since SSE cannot carry a CR inside data.
func AppendData(dst, payload []byte) []byte {
	dst = appendDataLines(dst, payload)
	return append(dst, '\n')
}

// AppendDone appends the "data: [DONE]\n\n" end-of-stream event to dst.
func AppendDone(dst []byte) []byte {
	return append(dst, "data: "+doneString+"\n\n"...)
}

// AppendEvent appends a named event, "event: name\ndata: payload\n\n", to dst
// and returns the extended slice. payload is split into lines as AppendData
// does. An empty name writes no "event:" line (the client sees the default
// type "message"). name is cut at its first CR or LF so it cannot inject
// fields.
func AppendEvent(dst, name, payload []byte) []byte {
	if i := lineBreak(name); i >= 0 {
		name = name[:i]
	}
	if len(name) > 0 {
		dst = append(dst, "event: "...)
		dst = append(dst, name...)
		dst = append(dst, '\n')
	}
	dst = appendDataLines(dst, payload)
	return append(dst, '\n')
}

// AppendComment appends a comment block, ": text\n\n", to dst and returns the
// extended slice. Clients ignore it; the gateway sends it as a keep-alive.
// text holding line breaks is written as one comment line per line.
func AppendComment(dst []byte, text string) []byte {
	for {
		i := strings.IndexAny(text, "\r\n")
		dst = append(dst, ": "...)
		if i < 0 {
			dst = append(dst, text...)
			return append(dst, '\n', '\n')
		}
		dst = append(dst, text[:i]...)
		dst = append(dst, '\n')
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}

// appendDataLines appends one "data: " line per line of p.
func appendDataLines(dst, p []byte) []byte {
	for {
		i := lineBreak(p)
		dst = append(dst, "data: "...)
		if i < 0 {
			dst = append(dst, p...)
			return append(dst, '\n')
		}
		dst = append(dst, p[:i]...)
		dst = append(dst, '\n')
		if p[i] == '\r' && i+1 < len(p) && p[i+1] == '\n' {
			i++
		}
		p = p[i+1:]
	}
}

// lineBreak returns the index of the first CR or LF in p, or -1.
func lineBreak(p []byte) int {
	i := bytes.IndexByte(p, '\n')
	head := p
	if i >= 0 {
		head = p[:i]
	}
	if j := bytes.IndexByte(head, '\r'); j >= 0 {
		return j
	}
	return i
}
