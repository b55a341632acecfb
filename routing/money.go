package routing

import (
	"math"
	"math/bits"
)

// perMillionCeil returns ceil(price × tokens / 1e6), saturating at MaxInt64.
func perMillionCeil(price int64, tokens int) int64 {
	if price <= 0 || tokens <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(price), uint64(tokens))
	if hi >= 1e6 {
		return math.MaxInt64
	}
	q, r := bits.Div64(hi, lo, 1e6)
	if r != 0 {
		q++
	}
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

func addSat(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

func mulSat(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}
