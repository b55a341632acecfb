package routing

import (
	"errors"
	"math"
	"strconv"
)

// NanoPerUSD is the number of nano-USD in one USD.
const NanoPerUSD = 1_000_000_000

var errBadUSD = errors.New("not a non-negative decimal USD amount")

// ParseUSD converts a non-negative decimal USD amount ("0.5", "3", "1.25e-1")
// to nano-USD without going through float64. Digits below one nano-USD are
// rounded half up.
func ParseUSD(s string) (int64, error) {
	i := 0
	if i < len(s) && s[i] == '+' {
		i++
	}
	var mant uint64
	exp := 0
	overflow := false
	sawDigit := false
	addDigit := func(d byte) {
		if overflow {
			return
		}
		if mant > (math.MaxUint64-9)/10 {
			overflow = true
			return
		}
		mant = mant*10 + uint64(d)
	}
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		sawDigit = true
		addDigit(s[i] - '0')
	}
	if i < len(s) && s[i] == '.' {
		i++
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			sawDigit = true
			// Keep 9 fractional digits plus one for rounding half up; later
			// digits cannot change a half-up result.
			if exp > -10 {
				addDigit(s[i] - '0')
				exp--
			}
		}
	}
	if !sawDigit || overflow {
		return 0, errBadUSD
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		neg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			neg = s[i] == '-'
			i++
		}
		start := i
		e := 0
		for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			if e < 10000 {
				e = e*10 + int(s[i]-'0')
			}
		}
		if i == start {
			return 0, errBadUSD
		}
		if neg {
			e = -e
		}
		exp += e
	}
	if i != len(s) {
		return 0, errBadUSD
	}
	// value = mant × 10^exp USD = mant × 10^(exp+9) nano-USD.
	shift := exp + 9
	for shift > 0 {
		if mant == 0 {
			break
		}
		if mant > math.MaxInt64/10 {
			return 0, errBadUSD
		}
		mant *= 10
		shift--
	}
	if shift < 0 {
		if shift < -20 {
			return 0, nil
		}
		var p uint64 = 1
		for ; shift < 0; shift++ {
			p *= 10
		}
		q, r := mant/p, mant%p
		if r*2 >= p {
			q++
		}
		mant = q
	}
	if mant > math.MaxInt64 {
		return 0, errBadUSD
	}
	return int64(mant), nil
}

// AppendUSD appends nano as a decimal USD number with no trailing zeros
// ("0.0000015", "3").
func AppendUSD(dst []byte, nano int64) []byte {
	if nano < 0 {
		dst = append(dst, '-')
		if nano == math.MinInt64 {
			return append(dst, "9223372036.854775808"...)
		}
		nano = -nano
	}
	dst = strconv.AppendInt(dst, nano/NanoPerUSD, 10)
	frac := nano % NanoPerUSD
	if frac == 0 {
		return dst
	}
	var buf [9]byte
	for i := 8; i >= 0; i-- {
		buf[i] = byte('0' + frac%10)
		frac /= 10
	}
	n := 9
	for n > 0 && buf[n-1] == '0' {
		n--
	}
	dst = append(dst, '.')
	return append(dst, buf[:n]...)
}
