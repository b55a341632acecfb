package sse

import (
	"bytes"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// refParse is the reference parser: it holds the whole input, splits it into
// lines and applies the WHATWG rules line by line, plus this package's
// documented end-of-stream rules and size limit. It favours being obviously right
// over being fast.
func refParse(in []byte, maxEvent int) ([]string, error) {
	in = bytes.TrimPrefix(in, bom)
	var (
		events   []string
		data     []string
		hasData  bool
		name     string
		id       string
		retry    = -1
		comments int
		evStart  int // offset of the current block
		pos      int
	)
	emit := func() {
		events = append(events, view{
			name:     name,
			data:     strings.Join(data, "\n"),
			id:       id,
			retry:    retry,
			comments: comments,
		}.String())
		comments = 0
	}
	for {
		i := bytes.IndexAny(in[pos:], "\r\n")
		if i < 0 {
			// End of input: the rest, if any, is an unterminated line.
			if len(in)-evStart > maxEvent {
				return events, ErrEventTooLarge
			}
			if pos < len(in) {
				return events, io.ErrUnexpectedEOF
			}
			if hasData {
				emit()
			}
			return events, nil
		}
		end := pos + i
		if end-evStart > maxEvent {
			return events, ErrEventTooLarge
		}
		line := string(in[pos:end])
		pos = end + 1
		if in[end] == '\r' && pos < len(in) && in[pos] == '\n' {
			pos++
		}
		if line == "" {
			if hasData {
				emit()
			}
			data, hasData, name = nil, false, ""
			evStart = end + 1
			continue
		}
		if line[0] == ':' {
			comments++
			continue
		}
		field, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "data":
			data = append(data, value)
			hasData = true
		case "event":
			name = value
		case "id":
			if !strings.Contains(value, "\x00") {
				id = value
			}
		case "retry":
			if value != "" && strings.Trim(value, "0123456789") == "" {
				n, err := strconv.Atoi(value)
				if err != nil {
					n = math.MaxInt
				}
				retry = n
			}
		}
	}
}

// FuzzScanner checks the scanner against refParse, with whole, one-byte,
// chunked and data-with-EOF reads and with a default and a small size limit.
// One Scanner is reused through Reset, so leftover state would show.
func FuzzScanner(f *testing.F) {
	for _, seed := range []string{
		"data: a\n\n",
		"data: a\r\n\r\n",
		"data: a\r\rdata: b\r",
		"event: x\ndata: 1\ndata: 2\n\n",
		": ping\n\nid: 7\nretry: 10\ndata\n\n",
		"\xEF\xBB\xBFdata: [DONE]\n",
	} {
		f.Add([]byte(seed))
	}
	s := NewScanner(nil, 0)
	small := NewScanner(nil, 64)
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, sc := range []*Scanner{s, small} {
			want, wantErr := refParse(in, sc.maxEvent)
			readers := []namedReader{
				{"whole", bytes.NewReader(in)},
				{"one-byte", iotest.OneByteReader(bytes.NewReader(in))},
				{"chunks", &chunkReader{data: in, seed: uint32(len(in))}},
				{"data-err", iotest.DataErrReader(bytes.NewReader(in))},
			}
			for _, nr := range readers {
				got, err := scanAll(sc, nr.r)
				if !equalStrings(got, want) || err != wantErr {
					t.Fatalf("max %d, %s reads of %q:\ngot  %q, %v\nwant %q, %v",
						sc.maxEvent, nr.name, in, got, err, want, wantErr)
				}
			}
		}
	})
}
