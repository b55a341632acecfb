package ledger

import "fmt"

// Delta wire format (all integers varints, strings length-prefixed):
//
//	version (1)
//	account id
//	has account record (0|1) [account record]
//	grant count, grants
//	spend counter count, (node, epoch, value)…
//	key record count, key records
//	usage counter count, (key hash (32 bytes), node, epoch, period kind (1 byte), period index, value)…
const deltaV1 byte = 1

// AppendBinary appends the encoding of d.
func (d *Delta) AppendBinary(dst []byte) ([]byte, error) {
	dst = append(dst, deltaV1)
	dst = appendString(dst, d.AccountID)
	if d.Account != nil {
		dst = appendAccountBody(append(dst, 1), d.Account)
	} else {
		dst = append(dst, 0)
	}
	dst = appendUvarint(dst, uint64(len(d.Grants)))
	for i := range d.Grants {
		dst = appendGrantBody(dst, &d.Grants[i])
	}
	dst = appendUvarint(dst, uint64(len(d.Spend)))
	for _, s := range d.Spend {
		dst = appendSpendBody(dst, s)
	}
	dst = appendUvarint(dst, uint64(len(d.Keys)))
	for i := range d.Keys {
		dst = appendKeyBody(dst, &d.Keys[i])
	}
	dst = appendUvarint(dst, uint64(len(d.KeyUsage)))
	for _, u := range d.KeyUsage {
		dst = appendUsageBody(dst, u)
	}
	return dst, nil
}

// UnmarshalBinary decodes a delta made by AppendBinary. It checks the
// encoding only; Merge checks the content.
func (d *Delta) UnmarshalBinary(b []byte) error {
	*d = Delta{}
	r := reader{b: b}
	if v := r.byte(); v != deltaV1 {
		return fmt.Errorf("%w: version %d", ErrBadDelta, v)
	}
	d.AccountID = r.str()
	if r.bool() {
		a := readAccountBody(&r)
		d.Account = &a
	}
	if n := r.count(6); n > 0 {
		d.Grants = make([]GrantRecord, n)
		for i := range d.Grants {
			d.Grants[i] = readGrantBody(&r)
		}
	}
	if n := r.count(3); n > 0 {
		d.Spend = make([]SpendCounter, n)
		for i := range d.Spend {
			s := &d.Spend[i]
			s.Node = r.str()
			s.Epoch = r.uvarint()
			s.Value = r.counterValue()
		}
	}
	if n := r.count(32 + 12); n > 0 {
		d.Keys = make([]Key, n)
		for i := range d.Keys {
			d.Keys[i] = readKeyBody(&r)
		}
	}
	if n := r.count(32 + 6); n > 0 {
		d.KeyUsage = make([]UsageCounter, n)
		for i := range d.KeyUsage {
			u := &d.KeyUsage[i]
			u.Key = r.hash()
			u.Node = r.str()
			u.Epoch = r.uvarint()
			u.Period.Kind = PeriodKind(r.byte())
			u.Period.Index = r.varint()
			u.Value = r.counterValue()
		}
	}
	if err := r.end(); err != nil {
		*d = Delta{}
		return fmt.Errorf("%w: %v", ErrBadDelta, err)
	}
	return nil
}

// counterValue reads a counter that must fit an int64 with room to add.
func (r *reader) counterValue() int64 {
	v := r.uvarint()
	if v > 1<<62 {
		r.fail()
		return 0
	}
	return int64(v)
}

// Split cuts d into deltas whose encodings are at most maxBytes each (an
// entry larger than that on its own travels alone). Each part is a valid
// delta of the same account and merges independently. maxBytes ≤ 0 returns
// d unchanged.
func (d *Delta) Split(maxBytes int) []Delta {
	full, _ := d.AppendBinary(nil)
	if maxBytes <= 0 || len(full) <= maxBytes {
		return []Delta{*d}
	}
	// Header: version, account id, record flag, four counts (≤ 10 bytes each).
	header := 1 + len(appendString(nil, d.AccountID)) + 1 + 4*10
	var out []Delta
	cur := Delta{AccountID: d.AccountID, Account: d.Account}
	size := header
	if d.Account != nil {
		size += len(appendAccountBody(nil, d.Account))
	}
	var scratch []byte
	add := func(n int, put func(*Delta)) {
		if size+n > maxBytes && !cur.empty() {
			out = append(out, cur)
			cur = Delta{AccountID: d.AccountID}
			size = header
		}
		put(&cur)
		size += n
	}
	for i := range d.Grants {
		g := d.Grants[i]
		scratch = appendGrantBody(scratch[:0], &g)
		add(len(scratch), func(c *Delta) { c.Grants = append(c.Grants, g) })
	}
	for _, s := range d.Spend {
		scratch = appendSpendBody(scratch[:0], s)
		add(len(scratch), func(c *Delta) { c.Spend = append(c.Spend, s) })
	}
	for i := range d.Keys {
		k := d.Keys[i]
		scratch = appendKeyBody(scratch[:0], &k)
		add(len(scratch), func(c *Delta) { c.Keys = append(c.Keys, k) })
	}
	for _, u := range d.KeyUsage {
		scratch = appendUsageBody(scratch[:0], u)
		add(len(scratch), func(c *Delta) { c.KeyUsage = append(c.KeyUsage, u) })
	}
	if !cur.empty() {
		out = append(out, cur)
	}
	return out
}
