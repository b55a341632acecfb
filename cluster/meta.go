package cluster

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// MetaMaxSize is memberlist's limit on node metadata.
const MetaMaxSize = 512

// metaVersion is the metadata wire version this package writes. Later
// versions only append fields, so a decoder reads the fields it knows and
// ignores the rest.
const metaVersion = 1

// Meta is the typed node metadata every member advertises.
type Meta struct {
	Name      string // node name, as in Config.NodeName
	Region    string
	APIAddr   string // public API listener, host:port
	AdminAddr string // admin listener, host:port
	Version   string // software version
	Epoch     uint64 // ledger epoch of the node's current life
}

// Metadata wire format, version 1:
//
//	version byte (1)
//	name, region, api addr, admin addr, version: each 1 length byte + bytes
//	epoch: uvarint
//
// At most MetaMaxSize bytes in all.

// AppendBinary appends the encoding of m. It fails with ErrMetaTooLarge
// when the encoding exceeds MetaMaxSize, and on a malformed field.
func (m Meta) AppendBinary(dst []byte) ([]byte, error) {
	if err := m.validate(); err != nil {
		return dst, err
	}
	start := len(dst)
	dst = append(dst, metaVersion)
	for _, s := range [...]string{m.Name, m.Region, m.APIAddr, m.AdminAddr, m.Version} {
		dst = append(dst, byte(len(s)))
		dst = append(dst, s...)
	}
	dst = binary.AppendUvarint(dst, m.Epoch)
	if len(dst)-start > MetaMaxSize {
		return dst[:start], fmt.Errorf("%w: %d bytes", ErrMetaTooLarge, len(dst)-start)
	}
	return dst, nil
}

// UnmarshalBinary decodes metadata made by AppendBinary (of this or a later
// version).
func (m *Meta) UnmarshalBinary(b []byte) error {
	if len(b) > MetaMaxSize {
		return fmt.Errorf("%w: %d bytes", ErrMetaTooLarge, len(b))
	}
	if len(b) == 0 || b[0] == 0 {
		return errMalformedMeta
	}
	r := reader{b: b[1:]}
	var out Meta
	for _, p := range [...]*string{&out.Name, &out.Region, &out.APIAddr, &out.AdminAddr, &out.Version} {
		*p = r.str8()
	}
	out.Epoch = r.uvarint()
	if r.err {
		return errMalformedMeta
	}
	if err := out.validate(); err != nil {
		return err
	}
	*m = out
	return nil
}

func (m *Meta) validate() error {
	if err := validateName(m.Name); err != nil {
		return fmt.Errorf("%w: %v", errMalformedMeta, err)
	}
	if len(m.Region) > maxRegionLen {
		return fmt.Errorf("%w: region longer than %d bytes", errMalformedMeta, maxRegionLen)
	}
	for _, s := range [...]string{m.Region, m.APIAddr, m.AdminAddr, m.Version} {
		if len(s) > maxAddrLen {
			return fmt.Errorf("%w: field longer than %d bytes", ErrMetaTooLarge, maxAddrLen)
		}
		if !utf8.ValidString(s) {
			return fmt.Errorf("%w: field is not UTF-8", errMalformedMeta)
		}
	}
	return nil
}
