package cluster

import "errors"

// Sentinel errors. Compare with errors.Is.
var (
	ErrDisabled       = errors.New("cluster: disabled")
	ErrNotStarted     = errors.New("cluster: not started")
	ErrStarted        = errors.New("cluster: already started")
	ErrClosed         = errors.New("cluster: shut down")
	ErrUnknownType    = errors.New("cluster: envelope type not registered")
	ErrReservedType   = errors.New("cluster: envelope type reserved")
	ErrTypeTaken      = errors.New("cluster: envelope type already registered")
	ErrTooLarge       = errors.New("cluster: payload too large")
	ErrKeyTooLong     = errors.New("cluster: broadcast key longer than 255 bytes")
	ErrUnknownMember  = errors.New("cluster: no such live member")
	ErrQueueFull      = errors.New("cluster: send queue full")
	ErrMetaTooLarge   = errors.New("cluster: node metadata larger than 512 bytes")
	ErrMalformed      = errors.New("cluster: malformed message")
	ErrMemberIsAlive  = errors.New("cluster: member is alive")
	ErrBadSecretKey   = errors.New("cluster: secret key must be base64 of, or exactly, 16, 24 or 32 bytes")
	errMalformedMeta  = errors.New("cluster: malformed node metadata")
	errUnknownVersion = errors.New("cluster: unknown wire version")
)
