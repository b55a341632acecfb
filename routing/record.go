package routing

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// RecordKind says what a CatalogRecord changes.
type RecordKind uint8

// Record kinds. Each (kind, key) is one last-writer-wins register.
const (
	// KindModel: Key is the model id; Value holds the model's metadata
	// (its endpoints are separate records).
	KindModel RecordKind = 1 + iota
	// KindEndpoint: Key is "provider/model" (provider lower case); Value
	// holds the whole endpoint.
	KindEndpoint
	// KindProvider: Key is the provider name in lower case.
	KindProvider
	// KindPrice: Key is an endpoint key; Value holds a Pricing that
	// overrides the endpoint's.
	KindPrice
	// KindDisable: Key is a provider name or an endpoint key; Value is one
	// byte, 1 to disable and 0 to enable, overriding the catalog's flag.
	KindDisable
)

var kindNames = [...]string{"", "model", "endpoint", "provider", "price", "disable"}

func (k RecordKind) String() string {
	if k > 0 && int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "invalid"
}

// CatalogRecord is one versioned runtime change to the catalog, made through
// the admin API and replicated by gossip. Records overlay the configured
// catalog: a record beats another of the same kind and key when its
// (Version, Node) is greater; Deleted records are tombstones (for model,
// endpoint and provider they remove the object, for price and disable they
// remove the override). Merging is idempotent and commutative, so any
// delivery order converges to the same catalog.
type CatalogRecord struct {
	Kind RecordKind
	Key  string
	// Version is a hybrid logical clock (Router.NextVersion); Node breaks
	// ties between equal versions.
	Version uint64
	Node    string
	Deleted bool
	// Value is the kind's encoding (see the *Record constructors); empty
	// for tombstones.
	Value []byte
}

// wins reports whether a should replace b under last-writer-wins. Equal
// (Version, Node) pairs are ordered by content so the merge stays
// commutative even if a node reused a version.
func (a *CatalogRecord) wins(b *CatalogRecord) bool {
	if a.Version != b.Version {
		return a.Version > b.Version
	}
	if a.Node != b.Node {
		return a.Node > b.Node
	}
	if a.Deleted != b.Deleted {
		return a.Deleted
	}
	return bytes.Compare(a.Value, b.Value) > 0
}

const recordFormat = 1

// maxRecordField bounds every length-prefixed field of an encoded record.
const maxRecordField = 1 << 20

// Marshal encodes rec: format byte, kind, flags, uvarint version, then
// length-prefixed node, key and value.
func (rec CatalogRecord) Marshal() []byte {
	return rec.AppendMarshal(make([]byte, 0, 16+len(rec.Node)+len(rec.Key)+len(rec.Value)))
}

// AppendMarshal appends the encoding of rec to dst.
func (rec CatalogRecord) AppendMarshal(dst []byte) []byte {
	var flags byte
	if rec.Deleted {
		flags = 1
	}
	dst = append(dst, recordFormat, byte(rec.Kind), flags)
	dst = binary.AppendUvarint(dst, rec.Version)
	dst = appendBytes(dst, rec.Node)
	dst = appendBytes(dst, rec.Key)
	return appendBytes(dst, string(rec.Value))
}

// UnmarshalCatalogRecord decodes what Marshal produced. It rejects unknown
// formats, kinds and flags, truncated or trailing bytes, and oversized
// fields. The result does not alias b.
func UnmarshalCatalogRecord(b []byte) (CatalogRecord, error) {
	var rec CatalogRecord
	if len(b) < 3 {
		return rec, errors.New("routing: cannot decode catalog record: too short")
	}
	if b[0] != recordFormat {
		return rec, fmt.Errorf("routing: cannot decode catalog record: unknown format %d", b[0])
	}
	rec.Kind = RecordKind(b[1])
	if rec.Kind.String() == "invalid" {
		return rec, fmt.Errorf("routing: cannot decode catalog record: unknown kind %d", b[1])
	}
	if b[2]&^1 != 0 {
		return rec, fmt.Errorf("routing: cannot decode catalog record: unknown flags %#x", b[2])
	}
	rec.Deleted = b[2] == 1
	d := decoder{b: b[3:]}
	rec.Version = d.uvarint()
	rec.Node = d.str()
	rec.Key = d.str()
	if v := d.bytes(); len(v) > 0 {
		rec.Value = v
	}
	if err := d.finish(); err != nil {
		return CatalogRecord{}, fmt.Errorf("routing: cannot decode catalog record: %w", err)
	}
	return rec, nil
}

// ProviderRecord makes a provider record.
func ProviderRecord(p Provider, version uint64, node string) CatalogRecord {
	var b []byte
	b = appendBytes(b, p.Name)
	b = appendBytes(b, p.Protocol)
	b = append(b, packBools(p.DataPolicy.Training, p.DataPolicy.RetainsPrompts, p.DataPolicy.ZDR, p.Disabled))
	return CatalogRecord{Kind: KindProvider, Key: lowerASCII(p.Name), Version: version, Node: node, Value: b}
}

// ModelRecord makes a model record from m's metadata (not its endpoints).
func ModelRecord(m *Model, version uint64, node string) CatalogRecord {
	var b []byte
	b = appendBytes(b, m.ID)
	b = appendBytes(b, m.Name)
	b = binary.AppendVarint(b, m.Created)
	b = binary.AppendUvarint(b, uint64(max(m.ContextLength, 0)))
	b = appendStrings(b, m.InputModalities)
	b = appendStrings(b, m.OutputModalities)
	return CatalogRecord{Kind: KindModel, Key: m.ID, Version: version, Node: node, Value: b}
}

// EndpointRecord makes an endpoint record.
func EndpointRecord(e *Endpoint, version uint64, node string) CatalogRecord {
	var b []byte
	b = appendBytes(b, e.Provider)
	b = appendBytes(b, e.Model)
	b = appendBytes(b, e.UpstreamModel)
	b = appendPricing(b, e.Pricing)
	b = binary.AppendUvarint(b, uint64(max(e.ContextLength, 0)))
	b = binary.AppendUvarint(b, uint64(max(e.MaxCompletionTokens, 0)))
	b = appendBytes(b, e.Quantization)
	b = appendStrings(b, e.SupportedParameters)
	b = appendStrings(b, e.InputModalities)
	b = append(b, packBools(e.Disabled))
	return CatalogRecord{Kind: KindEndpoint, Key: endpointKey(e.Provider, e.Model), Version: version, Node: node, Value: b}
}

// PriceRecord makes a record that overrides the pricing of one endpoint.
func PriceRecord(provider, model string, p Pricing, version uint64, node string) CatalogRecord {
	return CatalogRecord{Kind: KindPrice, Key: endpointKey(provider, model), Version: version, Node: node, Value: appendPricing(nil, p)}
}

// DisableRecord makes a record that disables (or re-enables) a provider
// (key = provider name) or an endpoint (key = "provider/model").
func DisableRecord(key string, disabled bool, version uint64, node string) CatalogRecord {
	return CatalogRecord{Kind: KindDisable, Key: normalizeDisableKey(key), Version: version, Node: node, Value: []byte{packBools(disabled)}}
}

// Tombstone makes a deletion record for (kind, key).
func Tombstone(kind RecordKind, key string, version uint64, node string) CatalogRecord {
	if kind == KindProvider {
		key = lowerASCII(key)
	}
	if kind == KindDisable || kind == KindEndpoint || kind == KindPrice {
		key = normalizeDisableKey(key)
	}
	return CatalogRecord{Kind: kind, Key: key, Version: version, Node: node, Deleted: true}
}

func normalizeDisableKey(key string) string {
	p, m, ok := strings.Cut(key, "/")
	if !ok {
		return lowerASCII(key)
	}
	return endpointKey(p, m)
}

// Provider decodes a KindProvider value.
func (rec *CatalogRecord) Provider() (Provider, error) {
	var p Provider
	if rec.Kind != KindProvider {
		return p, fmt.Errorf("routing: record is %s, not provider", rec.Kind)
	}
	d := decoder{b: rec.Value}
	p.Name = d.str()
	p.Protocol = d.str()
	f := d.byte()
	if err := d.finish(); err != nil {
		return Provider{}, fmt.Errorf("routing: cannot decode provider record: %w", err)
	}
	if f&^0xf != 0 {
		return Provider{}, fmt.Errorf("routing: cannot decode provider record: unknown flags %#x", f)
	}
	p.DataPolicy.Training, p.DataPolicy.RetainsPrompts, p.DataPolicy.ZDR, p.Disabled = f&1 != 0, f&2 != 0, f&4 != 0, f&8 != 0
	return p, nil
}

// Model decodes a KindModel value (without endpoints).
func (rec *CatalogRecord) Model() (*Model, error) {
	if rec.Kind != KindModel {
		return nil, fmt.Errorf("routing: record is %s, not model", rec.Kind)
	}
	d := decoder{b: rec.Value}
	m := &Model{}
	m.ID = d.str()
	m.Name = d.str()
	m.Created = d.varint()
	m.ContextLength = d.int()
	m.InputModalities = d.strs()
	m.OutputModalities = d.strs()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("routing: cannot decode model record: %w", err)
	}
	return m, nil
}

// Endpoint decodes a KindEndpoint value.
func (rec *CatalogRecord) Endpoint() (*Endpoint, error) {
	if rec.Kind != KindEndpoint {
		return nil, fmt.Errorf("routing: record is %s, not endpoint", rec.Kind)
	}
	d := decoder{b: rec.Value}
	e := &Endpoint{}
	e.Provider = d.str()
	e.Model = d.str()
	e.UpstreamModel = d.str()
	e.Pricing = d.pricing()
	e.ContextLength = d.int()
	e.MaxCompletionTokens = d.int()
	e.Quantization = d.str()
	e.SupportedParameters = d.strs()
	e.InputModalities = d.strs()
	f := d.byte()
	if err := d.finish(); err != nil {
		return nil, fmt.Errorf("routing: cannot decode endpoint record: %w", err)
	}
	if f&^1 != 0 {
		return nil, fmt.Errorf("routing: cannot decode endpoint record: unknown flags %#x", f)
	}
	e.Disabled = f == 1
	return e, nil
}

// Pricing decodes a KindPrice value.
func (rec *CatalogRecord) Pricing() (Pricing, error) {
	if rec.Kind != KindPrice {
		return Pricing{}, fmt.Errorf("routing: record is %s, not price", rec.Kind)
	}
	d := decoder{b: rec.Value}
	p := d.pricing()
	if err := d.finish(); err != nil {
		return Pricing{}, fmt.Errorf("routing: cannot decode price record: %w", err)
	}
	return p, nil
}

// Disabled decodes a KindDisable value.
func (rec *CatalogRecord) Disabled() (bool, error) {
	if rec.Kind != KindDisable {
		return false, fmt.Errorf("routing: record is %s, not disable", rec.Kind)
	}
	if len(rec.Value) != 1 || rec.Value[0] > 1 {
		return false, errors.New("routing: cannot decode disable record: want one byte 0 or 1")
	}
	return rec.Value[0] == 1, nil
}

// validate checks that rec is decodable and consistent with its key.
func (rec *CatalogRecord) validate() error {
	if rec.Key == "" {
		return errors.New("routing: catalog record without key")
	}
	if rec.Kind.String() == "invalid" {
		return fmt.Errorf("routing: unknown catalog record kind %d", rec.Kind)
	}
	if rec.Deleted {
		if len(rec.Value) != 0 {
			return errors.New("routing: tombstone with a value")
		}
		return nil
	}
	switch rec.Kind {
	case KindProvider:
		p, err := rec.Provider()
		if err != nil {
			return err
		}
		if err := checkProviderName(p.Name); err != nil {
			return err
		}
		if lowerASCII(p.Name) != rec.Key {
			return fmt.Errorf("routing: provider record key %q does not match name %q", rec.Key, p.Name)
		}
	case KindModel:
		m, err := rec.Model()
		if err != nil {
			return err
		}
		if m.ID != rec.Key {
			return fmt.Errorf("routing: model record key %q does not match id %q", rec.Key, m.ID)
		}
	case KindEndpoint:
		e, err := rec.Endpoint()
		if err != nil {
			return err
		}
		if endpointKey(e.Provider, e.Model) != rec.Key {
			return fmt.Errorf("routing: endpoint record key %q does not match %s/%s", rec.Key, e.Provider, e.Model)
		}
		if err := checkProviderName(e.Provider); err != nil {
			return err
		}
		if err := checkEndpoint(e); err != nil {
			return fmt.Errorf("routing: endpoint record %q: %w", rec.Key, err)
		}
	case KindPrice:
		p, err := rec.Pricing()
		if err != nil {
			return err
		}
		if err := checkEndpoint(&Endpoint{Pricing: p}); err != nil {
			return fmt.Errorf("routing: price record %q: %w", rec.Key, err)
		}
		if !strings.Contains(rec.Key, "/") {
			return fmt.Errorf("routing: price record key %q is not provider/model", rec.Key)
		}
	case KindDisable:
		if _, err := rec.Disabled(); err != nil {
			return err
		}
	}
	if (rec.Kind == KindPrice || rec.Kind == KindDisable || rec.Kind == KindProvider) && normalizeDisableKey(rec.Key) != rec.Key {
		return fmt.Errorf("routing: %s record key %q is not normalised", rec.Kind, rec.Key)
	}
	return nil
}

type recordKey struct {
	kind RecordKind
	key  string
}

// NextVersion returns a hybrid-logical-clock version greater than every
// version this router has issued or applied: wall-clock milliseconds in the
// high 48 bits, a counter in the low 16.
func (r *Router) NextVersion() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	v := uint64(max(r.now().UnixMilli(), 0)) << 16
	if v <= r.maxVersion {
		v = r.maxVersion + 1
	}
	r.maxVersion = v
	return v
}

// Apply merges rec into the catalog under last-writer-wins. It returns
// changed=false when rec is stale or already applied. A winning record that
// does not fit the current catalog yet (an endpoint of a model that does not
// exist) is kept and takes effect once it fits.
func (r *Router) Apply(rec CatalogRecord) (changed bool, err error) {
	if err := rec.validate(); err != nil {
		return false, err
	}
	rec.Value = bytes.Clone(rec.Value)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.maxVersion = max(r.maxVersion, rec.Version)
	k := recordKey{rec.Kind, rec.Key}
	if old, ok := r.records[k]; ok && !rec.wins(&old) {
		return false, nil
	}
	r.records[k] = rec
	if err := r.rebuild(); err != nil {
		return true, err
	}
	return true, nil
}

// ApplyAll merges many records (a restart replay, an anti-entropy push) with
// one catalog rebuild. Invalid records are skipped; the first validation
// error is returned with the number of records that changed the state.
func (r *Router) ApplyAll(recs []CatalogRecord) (changed int, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if verr := rec.validate(); verr != nil {
			if err == nil {
				err = verr
			}
			continue
		}
		r.maxVersion = max(r.maxVersion, rec.Version)
		k := recordKey{rec.Kind, rec.Key}
		if old, ok := r.records[k]; ok && !rec.wins(&old) {
			continue
		}
		rec.Value = bytes.Clone(rec.Value)
		r.records[k] = rec
		changed++
	}
	if changed > 0 {
		if rerr := r.rebuild(); rerr != nil {
			return changed, rerr
		}
	}
	return changed, err
}

// Records returns the current winning records, tombstones included, sorted
// by kind and key. The caller persists them and gossips them.
func (r *Router) Records() []CatalogRecord {
	r.mu.Lock()
	out := make([]CatalogRecord, 0, len(r.records))
	for _, rec := range r.records {
		rec.Value = bytes.Clone(rec.Value)
		out = append(out, rec)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b CatalogRecord) int {
		if c := cmp.Compare(a.Kind, b.Kind); c != 0 {
			return c
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out
}

// overlay returns base with the records applied. Objects keep base order;
// objects that only records create follow, sorted by key, so the result
// depends only on the set of records.
func overlay(base Catalog, records map[recordKey]CatalogRecord) Catalog {
	byKind := func(kind RecordKind) []CatalogRecord {
		var out []CatalogRecord
		for k, rec := range records {
			if k.kind == kind {
				out = append(out, rec)
			}
		}
		slices.SortFunc(out, func(a, b CatalogRecord) int { return cmp.Compare(a.Key, b.Key) })
		return out
	}
	disabled := map[string]bool{}
	for _, rec := range byKind(KindDisable) {
		if !rec.Deleted {
			d, _ := rec.Disabled()
			disabled[rec.Key] = d
		}
	}

	// Providers.
	var provs []Provider
	provPos := map[string]int{}
	for _, p := range base.Providers {
		provPos[lowerASCII(p.Name)] = len(provs)
		provs = append(provs, p)
	}
	removedProv := map[string]bool{}
	for _, rec := range byKind(KindProvider) {
		if rec.Deleted {
			removedProv[rec.Key] = true
			continue
		}
		p, _ := rec.Provider()
		if i, ok := provPos[rec.Key]; ok {
			provs[i] = p
		} else {
			provPos[rec.Key] = len(provs)
			provs = append(provs, p)
		}
	}
	var out Catalog
	for _, p := range provs {
		k := lowerASCII(p.Name)
		if removedProv[k] {
			continue
		}
		if d, ok := disabled[k]; ok {
			p.Disabled = d
		}
		out.Providers = append(out.Providers, p)
	}

	// Models and their endpoints.
	type modelAcc struct {
		m   *Model
		eps []*Endpoint
		pos map[string]int
	}
	var models []*modelAcc
	modelPos := map[string]int{}
	for _, m := range base.Models {
		if m == nil {
			continue
		}
		acc := &modelAcc{m: m, pos: map[string]int{}}
		for _, e := range m.Endpoints {
			if e == nil {
				continue
			}
			acc.pos[endpointKey(e.Provider, m.ID)] = len(acc.eps)
			acc.eps = append(acc.eps, e)
		}
		modelPos[m.ID] = len(models)
		models = append(models, acc)
	}
	removedModel := map[string]bool{}
	for _, rec := range byKind(KindModel) {
		if rec.Deleted {
			removedModel[rec.Key] = true
			continue
		}
		m, _ := rec.Model()
		if i, ok := modelPos[rec.Key]; ok {
			models[i].m = m
		} else {
			modelPos[rec.Key] = len(models)
			models = append(models, &modelAcc{m: m, pos: map[string]int{}})
		}
	}
	removedEp := map[string]bool{}
	for _, rec := range byKind(KindEndpoint) {
		if rec.Deleted {
			removedEp[rec.Key] = true
			continue
		}
		e, _ := rec.Endpoint()
		i, ok := modelPos[e.Model]
		if !ok {
			continue
		}
		acc := models[i]
		if j, ok := acc.pos[rec.Key]; ok {
			acc.eps[j] = e
		} else {
			acc.pos[rec.Key] = len(acc.eps)
			acc.eps = append(acc.eps, e)
		}
	}
	prices := map[string]Pricing{}
	for _, rec := range byKind(KindPrice) {
		if !rec.Deleted {
			prices[rec.Key], _ = rec.Pricing()
		}
	}
	for _, acc := range models {
		if removedModel[acc.m.ID] {
			continue
		}
		m := *acc.m
		m.Endpoints = nil
		for _, e := range acc.eps {
			k := endpointKey(e.Provider, m.ID)
			if removedEp[k] || removedProv[lowerASCII(e.Provider)] {
				continue
			}
			if _, ok := provPos[lowerASCII(e.Provider)]; !ok {
				continue
			}
			ec := *e
			if p, ok := prices[k]; ok {
				ec.Pricing = p
			}
			if d, ok := disabled[k]; ok {
				ec.Disabled = d
			}
			m.Endpoints = append(m.Endpoints, &ec)
		}
		out.Models = append(out.Models, &m)
	}
	return out
}

// Binary helpers. Strings are uvarint-length-prefixed.

func appendBytes(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

func appendStrings(dst []byte, ss []string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(ss)))
	for _, s := range ss {
		dst = appendBytes(dst, s)
	}
	return dst
}

func appendPricing(dst []byte, p Pricing) []byte {
	for _, v := range [...]int64{p.Prompt, p.Completion, p.Request, p.Image, p.InputCacheRead, p.InputCacheWrite, p.InternalReasoning} {
		dst = binary.AppendVarint(dst, v)
	}
	return dst
}

func packBools(bs ...bool) byte {
	var f byte
	for i, b := range bs {
		if b {
			f |= 1 << uint(i)
		}
	}
	return f
}

// decoder reads the encodings above; the first error sticks.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(msg string) {
	if d.err == nil {
		d.err = errors.New(msg)
	}
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int {
	v := d.uvarint()
	if v > 1<<31-1 {
		d.fail("integer out of range")
		return 0
	}
	return int(v)
}

func (d *decoder) byte() byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > maxRecordField || n > uint64(len(d.b)) {
		d.fail("field length out of range")
		return nil
	}
	v := bytes.Clone(d.b[:n])
	d.b = d.b[n:]
	return v
}

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) strs() []string {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) { // every string takes at least one byte
		d.fail("list length out of range")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]string, 0, n)
	for i := uint64(0); i < n && d.err == nil; i++ {
		out = append(out, d.str())
	}
	return out
}

func (d *decoder) pricing() Pricing {
	return Pricing{
		Prompt: d.varint(), Completion: d.varint(), Request: d.varint(), Image: d.varint(),
		InputCacheRead: d.varint(), InputCacheWrite: d.varint(), InternalReasoning: d.varint(),
	}
}

func (d *decoder) finish() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}
