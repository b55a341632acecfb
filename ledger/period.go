package ledger

import (
	"fmt"
	"sync/atomic"
	"time"
)

// LimitReset says how often a key's limit starts over: never ("") or at the
// start of each UTC day, week (weeks start on Monday) or calendar month.
type LimitReset string

const (
	LimitResetNever   LimitReset = ""
	LimitResetDaily   LimitReset = "daily"
	LimitResetWeekly  LimitReset = "weekly"
	LimitResetMonthly LimitReset = "monthly"
)

// Validate reports whether r is one of the four values.
func (r LimitReset) Validate() error {
	switch r {
	case LimitResetNever, LimitResetDaily, LimitResetWeekly, LimitResetMonthly:
		return nil
	}
	return fmt.Errorf("%w: limit_reset %q: want daily, weekly, monthly or empty", ErrInvalidArgument, string(r))
}

func (r LimitReset) kind() PeriodKind {
	switch r {
	case LimitResetDaily:
		return PeriodDay
	case LimitResetWeekly:
		return PeriodWeek
	case LimitResetMonthly:
		return PeriodMonth
	}
	return PeriodTotal
}

func (r LimitReset) code() byte { return byte(r.kind()) }

func limitResetFromCode(c byte) (LimitReset, bool) {
	switch PeriodKind(c) {
	case PeriodTotal:
		return LimitResetNever, true
	case PeriodDay:
		return LimitResetDaily, true
	case PeriodWeek:
		return LimitResetWeekly, true
	case PeriodMonth:
		return LimitResetMonthly, true
	}
	return "", false
}

// PeriodKind is the span a usage counter covers.
type PeriodKind uint8

const (
	PeriodTotal PeriodKind = 0 // all time; Index is always 0
	PeriodDay   PeriodKind = 1 // Index: days since 1970-01-01 UTC
	PeriodWeek  PeriodKind = 2 // Index: weeks since Monday 1969-12-29 UTC
	PeriodMonth PeriodKind = 3 // Index: (year-1970)*12 + month-1, UTC
)

// Period names one usage counter span. A new day, week or month is a new
// counter that starts at zero, so a limit "resets" without ever lowering a
// counter (a SET on reset would wipe spend that other nodes still merge).
type Period struct {
	Kind  PeriodKind
	Index int64
}

func (p Period) valid() bool {
	switch p.Kind {
	case PeriodTotal:
		return p.Index == 0
	case PeriodDay, PeriodWeek, PeriodMonth:
		return true
	}
	return false
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// periods holds the current day, week and month indexes.
type periods struct {
	day, week, month int64
}

func (ps periods) index(k PeriodKind) int64 {
	switch k {
	case PeriodDay:
		return ps.day
	case PeriodWeek:
		return ps.week
	case PeriodMonth:
		return ps.month
	}
	return 0
}

func computePeriods(t time.Time) periods {
	day := floorDiv(t.Unix(), 86400)
	y, m, _ := t.UTC().Date()
	return periods{
		day:   day,
		week:  floorDiv(day+3, 7), // 1970-01-01 was a Thursday
		month: int64(y-1970)*12 + int64(m-1),
	}
}

// periodCache memoises computePeriods for the current day so the hot path
// does one division instead of a calendar conversion.
type periodCache struct {
	p atomic.Pointer[periods]
}

func (c *periodCache) at(t time.Time) periods {
	day := floorDiv(t.Unix(), 86400)
	if p := c.p.Load(); p != nil && p.day == day {
		return *p
	}
	ps := computePeriods(t)
	c.p.Store(&ps)
	return ps
}

// stale reports whether p is older than the previous span of its kind:
// such counters no longer matter for any limit and are pruned.
func (p Period) stale(cur periods) bool {
	if p.Kind == PeriodTotal {
		return false
	}
	return p.Index < cur.index(p.Kind)-1
}
