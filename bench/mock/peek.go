package mock

// A small validating JSON scanner over []byte. The mock reads a handful of
// top-level fields from every request; scanning them in place keeps the hot
// path free of allocations and leaves the body bytes untouched.

const maxDepth = 128

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at b[i]
// (after optional whitespace), or -1 if there is no valid value there.
func skipValue(b []byte, i, depth int) int {
	i = skipSpace(b, i)
	if i >= len(b) {
		return -1
	}
	switch c := b[i]; {
	case c == '"':
		return skipString(b, i)
	case c == '{':
		return skipObject(b, i, depth+1)
	case c == '[':
		return skipArray(b, i, depth+1)
	case c == 't':
		return skipLiteral(b, i, "true")
	case c == 'f':
		return skipLiteral(b, i, "false")
	case c == 'n':
		return skipLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return skipNumber(b, i)
	}
	return -1
}

func skipLiteral(b []byte, i int, lit string) int {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return -1
	}
	return i + len(lit)
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// skipString expects b[i] == '"'.
func skipString(b []byte, i int) int {
	i++
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			return i + 1
		case c == '\\':
			if i+1 >= len(b) {
				return -1
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return -1
				}
				i += 6
			default:
				return -1
			}
		case c < 0x20:
			return -1
		default:
			i++
		}
	}
	return -1
}

func skipDigits(b []byte, i int) (int, bool) {
	start := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i, i > start
}

func skipNumber(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return -1
	}
	if b[i] == '0' {
		i++
	} else {
		var ok bool
		if i, ok = skipDigits(b, i); !ok {
			return -1
		}
	}
	if i < len(b) && b[i] == '.' {
		var ok bool
		if i, ok = skipDigits(b, i+1); !ok {
			return -1
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		var ok bool
		if i, ok = skipDigits(b, i); !ok {
			return -1
		}
	}
	return i
}

func skipObject(b []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	it := objIter{b: b, i: i, depth: depth}
	for {
		if _, _, ok := it.next(); !ok {
			break
		}
	}
	if it.bad {
		return -1
	}
	return it.i
}

func skipArray(b []byte, i, depth int) int {
	if depth > maxDepth {
		return -1
	}
	it := arrIter{b: b, i: i, depth: depth}
	for {
		if _, ok := it.next(); !ok {
			break
		}
	}
	if it.bad {
		return -1
	}
	return it.i
}

// objIter walks the members of the object that starts at b[i]. After next
// reports false, bad tells whether the object was malformed and i points
// just past it.
type objIter struct {
	b       []byte
	i       int
	depth   int
	started bool
	end     bool
	bad     bool
}

// next returns the raw key (without quotes, escapes left as they are) and the
// raw value of the next member.
func (it *objIter) next() (key, val []byte, ok bool) {
	if it.end || it.bad {
		return nil, nil, false
	}
	b := it.b
	i := skipSpace(b, it.i)
	if !it.started {
		it.started = true
		if i >= len(b) || b[i] != '{' {
			return it.fail()
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == '}' {
			it.i, it.end = i+1, true
			return nil, nil, false
		}
	} else {
		if i >= len(b) {
			return it.fail()
		}
		if b[i] == '}' {
			it.i, it.end = i+1, true
			return nil, nil, false
		}
		if b[i] != ',' {
			return it.fail()
		}
		i = skipSpace(b, i+1)
	}
	if i >= len(b) || b[i] != '"' {
		return it.fail()
	}
	ke := skipString(b, i)
	if ke < 0 {
		return it.fail()
	}
	key = b[i+1 : ke-1]
	i = skipSpace(b, ke)
	if i >= len(b) || b[i] != ':' {
		return it.fail()
	}
	vs := skipSpace(b, i+1)
	ve := skipValue(b, vs, it.depth)
	if ve < 0 {
		return it.fail()
	}
	it.i = ve
	return key, b[vs:ve], true
}

func (it *objIter) fail() ([]byte, []byte, bool) {
	it.bad = true
	return nil, nil, false
}

// arrIter walks the elements of the array that starts at b[i].
type arrIter struct {
	b       []byte
	i       int
	depth   int
	started bool
	end     bool
	bad     bool
}

func (it *arrIter) next() (val []byte, ok bool) {
	if it.end || it.bad {
		return nil, false
	}
	b := it.b
	i := skipSpace(b, it.i)
	if !it.started {
		it.started = true
		if i >= len(b) || b[i] != '[' {
			it.bad = true
			return nil, false
		}
		i = skipSpace(b, i+1)
		if i < len(b) && b[i] == ']' {
			it.i, it.end = i+1, true
			return nil, false
		}
	} else {
		if i >= len(b) {
			it.bad = true
			return nil, false
		}
		if b[i] == ']' {
			it.i, it.end = i+1, true
			return nil, false
		}
		if b[i] != ',' {
			it.bad = true
			return nil, false
		}
		i = skipSpace(b, i+1)
	}
	ve := skipValue(b, i, it.depth)
	if ve < 0 {
		it.bad = true
		return nil, false
	}
	it.i = ve
	return b[i:ve], true
}

// validJSON reports whether b holds exactly one JSON value.
func validJSON(b []byte) bool {
	e := skipValue(b, 0, 0)
	return e >= 0 && skipSpace(b, e) == len(b)
}

// jsonInt parses a JSON number that must be an integer. Values beyond ±1e15
// are clamped: no token count in a test comes near that.
func jsonInt(v []byte) (int, bool) {
	if len(v) == 0 {
		return 0, false
	}
	neg := v[0] == '-'
	i := 0
	if neg {
		i = 1
	}
	if i >= len(v) {
		return 0, false
	}
	n := 0
	for ; i < len(v); i++ {
		c := v[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < 1e15 {
			n = n*10 + int(c-'0')
		}
	}
	if neg {
		n = -n
	}
	return n, true
}

// jsonStringRaw returns the contents of a JSON string value with escapes
// left as they are, which is what the mock echoes back inside quotes.
func jsonStringRaw(v []byte) ([]byte, bool) {
	if len(v) < 2 || v[0] != '"' {
		return nil, false
	}
	return v[1 : len(v)-1], true
}

func isNull(v []byte) bool {
	return string(v) == "null"
}

// objectField returns the raw value of key in the object v.
func objectField(v []byte, key string) ([]byte, bool) {
	it := objIter{b: v}
	for {
		k, val, ok := it.next()
		if !ok {
			return nil, false
		}
		if string(k) == key {
			return val, true
		}
	}
}
