package ledger

import (
	"errors"
	"fmt"
)

// Sentinel errors. Compare with errors.Is.
var (
	ErrClosed              = errors.New("ledger: closed")
	ErrAccountNotFound     = errors.New("ledger: account not found")
	ErrAccountExists       = errors.New("ledger: account exists")
	ErrKeyNotFound         = errors.New("ledger: key not found")
	ErrKeyDisabled         = errors.New("ledger: key disabled")
	ErrKeyExpired          = errors.New("ledger: key expired")
	ErrManagementKey       = errors.New("ledger: management key cannot call inference")
	ErrKeyAccountMismatch  = errors.New("ledger: key belongs to another account")
	ErrIdempotencyConflict = errors.New("ledger: idempotency key reused with a different amount")
	ErrInvalidAmount       = errors.New("ledger: invalid amount")
	ErrInvalidArgument     = errors.New("ledger: invalid argument")
	ErrBadKeyFormat        = errors.New("ledger: malformed key")
	ErrBadDelta            = errors.New("ledger: malformed delta")
	ErrForeignCounter      = errors.New("ledger: delta raises a counter its sender does not own")

	// The three reasons a LimitError can carry.
	ErrInsufficientCredits = errors.New("ledger: insufficient credits")
	ErrKeyLimit            = errors.New("ledger: key limit exceeded")
	ErrPartitionAllowance  = errors.New("ledger: partition allowance exceeded")
)

// LimitError is returned by Reserve when the request's maximum cost is more
// than what the account, the key's limit or the partition allowance allows.
// Affordable is the largest cost Reserve would accept right now (the minimum
// over all three constraints, never negative), so the API can answer 402
// "can only afford N tokens" with N = Affordable / price per token.
type LimitError struct {
	Reason     error // ErrInsufficientCredits, ErrKeyLimit or ErrPartitionAllowance
	Requested  int64 // nano-USD
	Affordable int64 // nano-USD
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: requested %d nano-USD, can afford %d", e.Reason, e.Requested, e.Affordable)
}

// Is makes errors.Is(err, ErrInsufficientCredits) (or the reason it carries)
// true.
func (e *LimitError) Is(target error) bool { return target == e.Reason }

// Unwrap returns the reason.
func (e *LimitError) Unwrap() error { return e.Reason }
