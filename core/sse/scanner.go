package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
)

const (
	// initialBufSize is the first read buffer. It holds a few typical
	// chat-completion chunks beside minReadSize of free space, and grows
	// (and stays grown) for streams whose events are larger. It is small
	// because every running stream holds one while it waits for its
	// upstream, behind the upstream connection's own 8 KiB read buffer:
	// 1,000 streams hold 2 MiB (8 MiB at 8 KiB), and a stream's garbage
	// collector headroom scales with it.
	initialBufSize = 2 << 10

	// minReadSize is the least free space the scanner leaves for each Read,
	// so a long event is not read a few bytes at a time.
	minReadSize = 1 << 10

	// maxRetainedBuf bounds the buffers Reset keeps: one huge event must not
	// pin megabytes in a sync.Pool for the life of the process.
	maxRetainedBuf = 1 << 20

	// maxEmptyReads is how many (0, nil) reads in a row the scanner accepts
	// before giving up with io.ErrNoProgress, as bufio does.
	maxEmptyReads = 100

	// maxEventLimit keeps maxEvent+minReadSize from overflowing.
	maxEventLimit = math.MaxInt / 2
)

var (
	bom             = []byte("\xEF\xBB\xBF")
	errInvalidCount = errors.New("reader returned an invalid count")
)

// Scanner reads events from an SSE stream. The zero value is not usable until
// Reset is called; NewScanner returns a ready one. A Scanner is not safe for
// concurrent use. Pool Scanners with sync.Pool and Reset to reuse buffers.
//
// Memory: the read buffer starts at 2 KiB and grows, while one event needs
// it, up to the size limit plus 1 KiB; events with several data lines also
// use a second buffer of up to the limit for the joined data.
//
// Parsing follows the WHATWG event stream rules: lines end with CRLF, LF or
// CR; a blank line dispatches the event; "field:value" loses one space after
// the colon; a line without a colon is a field with an empty value; unknown
// fields are ignored; comment lines start with ':'; one leading UTF-8 BOM is
// skipped. Blocks without a data line (keep-alive comments, lone "event:" or
// "retry:" lines) dispatch nothing.
//
// End of stream, where the scanner is more lenient than the spec: the spec
// discards an event not followed by a blank line, but some upstreams end with
// "data: [DONE]\n" and close. So when the stream ends right after a line
// ending (CR, LF or CRLF), a pending event with at least one data line is
// delivered, and Err is nil. When the stream ends inside a line, the upstream
// was cut off: the partial line and the pending event it belongs to are
// discarded, and Err returns io.ErrUnexpectedEOF. On a read error other than
// io.EOF the pending event is discarded too. So every event Next delivers is
// complete.
//
// A complete event buffered from the reader is returned without another Read,
// so Next never waits for bytes it does not need; a CR at the end of a read is
// treated as a line end at once, and an LF that follows it in the next read is
// skipped.
type Scanner struct {
	_ noCopy

	rd       io.Reader
	maxEvent int

	// buf[r:w] is unread input. buf[evStart:r] is the part of the current
	// event block already parsed; it stays in place until the event is
	// dispatched, so field values are kept as offsets from evStart and
	// returned as slices of buf without copying.
	buf     []byte
	r, w    int
	evStart int
	// scan is where the search for the next line end resumes: buf[r:scan]
	// holds no CR or LF.
	scan int
	// lf caches the position of the next LF at or after scan (-1: none in
	// buf[:lfFrom]), so CR-only streams are scanned in linear time.
	lf, lfFrom int

	rerr    error // error from the reader, acted on once buf[r:w] is parsed
	err     error // error reported by Err
	done    bool  // Next returns false from now on
	bomDone bool  // the leading BOM has been checked for
	skipLF  bool  // the last line ended with CR: drop an LF that follows

	// Current event block.
	hasData    bool
	dataCopied bool // data is in dataBuf rather than buf
	dataOff    int  // offset of the first data value from evStart
	dataLen    int
	dataBuf    []byte // joined data of multi-line events
	hasName    bool
	nameOff    int
	nameLen    int
	comments   int

	// Stream state that outlives events, as the spec defines it.
	id    []byte
	retry int

	ev Event

	beforeRead func() // see BeforeRead
}

// BeforeRead sets f to run before every read of the underlying reader,
// that is whenever Next has no complete line buffered and may block. A
// relay that batches the events of one read writes them out there. Reset
// keeps f.
func (s *Scanner) BeforeRead(f func()) { s.beforeRead = f }

// NewScanner returns a Scanner reading from r. maxEvent limits the size of one
// event block (see ErrEventTooLarge); maxEvent <= 0 means DefaultMaxEvent.
func NewScanner(r io.Reader, maxEvent int) *Scanner {
	s := &Scanner{maxEvent: maxEvent}
	s.Reset(r)
	return s
}

// Reset makes s read a new stream from r, keeping its size limit and its
// buffers (buffers that grew past 1 MiB are released). It also readies a zero
// Scanner, which then uses DefaultMaxEvent.
func (s *Scanner) Reset(r io.Reader) {
	if s.maxEvent <= 0 {
		s.maxEvent = DefaultMaxEvent
	}
	s.maxEvent = min(s.maxEvent, maxEventLimit)
	if cap(s.buf) > maxRetainedBuf {
		s.buf = nil
	}
	if cap(s.dataBuf) > maxRetainedBuf {
		s.dataBuf = nil
	}
	if cap(s.id) > maxRetainedBuf {
		s.id = nil
	}
	s.rd = r
	s.r, s.w, s.evStart, s.scan = 0, 0, 0, 0
	s.lf, s.lfFrom = -1, 0
	s.rerr, s.err = nil, nil
	s.done, s.bomDone, s.skipLF = false, false, false
	s.resetBlock()
	s.comments = 0
	s.id = s.id[:0]
	s.retry = -1
	s.ev = Event{Retry: -1}
}

// Event returns the event found by the last successful Next. It is valid
// until the next call to Next or Reset.
func (s *Scanner) Event() *Event {
	return &s.ev
}

// Err returns the error that stopped the scanner: nil at a clean EOF,
// ErrEventTooLarge, io.ErrUnexpectedEOF if the stream ended inside a line, or
// a read error wrapped with context (use errors.Is).
func (s *Scanner) Err() error {
	return s.err
}

// Next advances to the next event, which Event then returns. It returns false
// at the end of the stream or on an error; Err tells which.
func (s *Scanner) Next() bool {
	if s.done {
		return false
	}
	s.ev = Event{Retry: -1}
	if !s.bomDone {
		s.skipBOM()
	}
	s.resetBlock()
	s.comments = 0
	s.evStart = s.r
	s.scan = max(s.scan, s.r)
	for {
		if s.skipLF && s.r < s.w {
			s.skipLF = false
			if s.buf[s.r] == '\n' {
				s.r++
				s.scan = max(s.scan, s.r)
			}
		}
		e := s.lineEnd()
		if e < 0 {
			// No complete line is buffered.
			if s.w-s.evStart > s.maxEvent {
				return s.fail(ErrEventTooLarge)
			}
			if s.rerr != nil {
				return s.finish()
			}
			s.fill()
			continue
		}
		if e-s.evStart > s.maxEvent {
			return s.fail(ErrEventTooLarge)
		}
		start := s.r
		s.skipLF = s.buf[e] == '\r'
		s.r = e + 1
		s.scan = s.r
		if e == start {
			// Blank line: dispatch, or drop a block without data.
			if s.hasData {
				s.dispatch()
				return true
			}
			s.resetBlock()
			s.evStart = s.r
			continue
		}
		s.parseLine(start, e)
	}
}

// lineEnd returns the position of the CR or LF ending the line at r, or -1 if
// buf[r:w] holds no complete line.
func (s *Scanner) lineEnd() int {
	if s.lf < s.scan {
		from := max(s.scan, s.lfFrom)
		if i := bytes.IndexByte(s.buf[from:s.w], '\n'); i >= 0 {
			s.lf = from + i
		} else {
			s.lf = -1
			s.lfFrom = s.w
		}
	}
	end := s.w
	if s.lf >= 0 {
		end = s.lf
	}
	if i := bytes.IndexByte(s.buf[s.scan:end], '\r'); i >= 0 {
		return s.scan + i
	}
	if s.lf >= 0 {
		return s.lf
	}
	s.scan = s.w
	return -1
}

// parseLine interprets the non-blank line buf[start:end].
func (s *Scanner) parseLine(start, end int) {
	line := s.buf[start:end]
	if line[0] == ':' {
		s.comments++
		return
	}
	field, value := line, line[len(line):]
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		field, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	off := end - len(value) - s.evStart
	switch string(field) {
	case "data":
		switch {
		case !s.hasData:
			s.hasData = true
			s.dataOff, s.dataLen = off, len(value)
		case !s.dataCopied:
			first := s.buf[s.evStart+s.dataOff : s.evStart+s.dataOff+s.dataLen]
			s.dataBuf = append(s.dataBuf[:0], first...)
			s.dataBuf = append(s.dataBuf, '\n')
			s.dataBuf = append(s.dataBuf, value...)
			s.dataCopied = true
		default:
			s.dataBuf = append(s.dataBuf, '\n')
			s.dataBuf = append(s.dataBuf, value...)
		}
	case "event":
		s.hasName = len(value) > 0
		s.nameOff, s.nameLen = off, len(value)
	case "id":
		if bytes.IndexByte(value, 0) < 0 {
			s.id = append(s.id[:0], value...)
		}
	case "retry":
		if n, ok := parseRetry(value); ok {
			s.retry = n
		}
	}
}

// parseRetry parses a retry value: one or more ASCII digits, saturating at
// math.MaxInt.
func parseRetry(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	n := 0
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := int(c - '0')
		if n > (math.MaxInt-d)/10 {
			n = math.MaxInt
		} else {
			n = n*10 + d
		}
	}
	return n, true
}

// dispatch fills s.ev from the current block.
func (s *Scanner) dispatch() {
	ev := &s.ev
	if s.hasName {
		a := s.evStart + s.nameOff
		b := a + s.nameLen
		ev.Name = s.buf[a:b:b]
	}
	if s.dataCopied {
		ev.Data = s.dataBuf[:len(s.dataBuf):len(s.dataBuf)]
	} else {
		a := s.evStart + s.dataOff
		b := a + s.dataLen
		ev.Data = s.buf[a:b:b]
	}
	if len(s.id) > 0 {
		ev.ID = s.id[:len(s.id):len(s.id)]
	}
	ev.Retry = s.retry
	ev.Comments = s.comments
	s.resetBlock()
}

func (s *Scanner) resetBlock() {
	s.hasData, s.dataCopied, s.hasName = false, false, false
	s.dataOff, s.dataLen, s.nameOff, s.nameLen = 0, 0, 0, 0
}

// finish handles the end of input after every complete line was parsed.
func (s *Scanner) finish() bool {
	s.done = true
	if s.rerr != io.EOF {
		s.err = fmt.Errorf("sse: cannot read event stream: %w", s.rerr)
		return false
	}
	if s.r < s.w {
		// Cut inside a line: the pending event is incomplete.
		s.err = io.ErrUnexpectedEOF
		return false
	}
	if s.hasData {
		s.dispatch()
		return true
	}
	return false
}

func (s *Scanner) fail(err error) bool {
	s.done = true
	s.err = err
	return false
}

// skipBOM drops a UTF-8 BOM at the start of the stream, reading until it has
// three bytes or the buffered prefix stops matching.
func (s *Scanner) skipBOM() {
	for {
		k := min(s.w-s.r, len(bom))
		if !bytes.Equal(s.buf[s.r:s.r+k], bom[:k]) {
			break
		}
		if k == len(bom) {
			s.r += k
			break
		}
		if s.rerr != nil {
			break
		}
		s.fill()
	}
	s.bomDone = true
}

// fill reads more input into buf[w:], first moving the current block to the
// front of buf or growing buf if little space is left. It records a read
// error in s.rerr.
func (s *Scanner) fill() {
	if s.buf == nil {
		s.buf = make([]byte, min(initialBufSize, s.maxEvent+minReadSize))
	}
	if len(s.buf)-s.w < minReadSize && s.evStart > 0 {
		shift := s.evStart
		copy(s.buf, s.buf[shift:s.w])
		s.r -= shift
		s.w -= shift
		s.scan -= shift
		s.evStart = 0
		if s.lf >= 0 {
			s.lf -= shift
		}
		s.lfFrom = max(s.lfFrom-shift, 0)
	}
	// The current block never exceeds maxEvent bytes here, so a buffer of
	// maxEvent+minReadSize always leaves room for a full-size read.
	if limit := s.maxEvent + minReadSize; len(s.buf)-s.w < minReadSize && len(s.buf) < limit {
		nb := make([]byte, min(2*len(s.buf), limit))
		copy(nb, s.buf[:s.w])
		s.buf = nb
	}
	if s.beforeRead != nil {
		s.beforeRead()
	}
	for range maxEmptyReads {
		n, err := s.rd.Read(s.buf[s.w:])
		if n < 0 || n > len(s.buf)-s.w {
			s.rerr = errInvalidCount
			return
		}
		s.w += n
		if err != nil {
			s.rerr = err
			return
		}
		if n > 0 {
			return
		}
	}
	s.rerr = io.ErrNoProgress
}

// noCopy makes go vet's copylocks check flag copies of a Scanner, whose
// events point into its own buffers.
type noCopy struct{}

func (*noCopy) Lock()   {}
func (*noCopy) Unlock() {}
