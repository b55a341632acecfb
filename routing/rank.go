package routing

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"
)

// maxResolved is how many names of one provider list are resolved to
// provider indices up front; longer lists fall back to name comparison.
const maxResolved = 16

// bitsetProviders is how many provider indices the membership bit set covers;
// in bigger catalogs membership scans the resolved indices instead.
const bitsetProviders = 256

// nameSet is a provider list from the request, resolved against a snapshot.
type nameSet struct {
	set   bool // the list was given (even if empty)
	slow  bool // membership needs pos(): long list or big catalog
	n     int
	bits  [bitsetProviders / 64]uint64
	idx   [maxResolved]int32
	names []string // used when the list is longer than maxResolved
}

func (ns *nameSet) resolve(s *Snapshot, names []string, given bool) {
	ns.set = given
	if len(names) > maxResolved {
		ns.names = names
		ns.slow = true
		return
	}
	ns.n = len(names)
	ns.slow = len(s.providers) > bitsetProviders
	for i, n := range names {
		k := s.provIndex(n)
		ns.idx[i] = k
		if k >= 0 && k < bitsetProviders {
			ns.bits[k>>6] |= 1 << uint(k&63)
		}
	}
}

// has reports whether e's provider is in the list.
func (ns *nameSet) has(e *Endpoint) bool {
	if !ns.slow {
		k := e.provIdx
		return ns.bits[k>>6]&(1<<uint(k&63)) != 0
	}
	return ns.pos(e) >= 0
}

// pos returns the position of e's provider in the list, or -1.
func (ns *nameSet) pos(e *Endpoint) int {
	if ns.names != nil {
		for i, n := range ns.names {
			if strings.EqualFold(n, e.Provider) {
				return i
			}
		}
		return -1
	}
	for i := 0; i < ns.n; i++ {
		if ns.idx[i] == e.provIdx {
			return i
		}
	}
	return -1
}

// mode is how one group of candidates is ordered.
type mode uint8

const (
	modeWeighted mode = iota
	modeOrder
	modeSortPrice
	modeSortLatency
	modeSortThroughput
)

// Candidate tiers: the ranking is every tier in turn.
const (
	tierMeet      = 0 // healthy and meets preferred_* thresholds
	tierMiss      = 1 // healthy but misses a preferred_* threshold
	tierUnhealthy = 2 // outage, open circuit, cooldown, or probe taken
)

// Sub-groups inside a tier and model group.
const (
	subProbe   = 0
	subPrimary = 1
	subRest    = 2 // outside provider.order (allow_fallbacks)
)

// rankCtx is the per-call state of Rank; it lives on Rank's stack.
type rankCtx struct {
	r    *Router
	s    *Snapshot
	req  *Request
	pref *Preferences
	now  int64

	order, only, ignore, allowed nameSet

	fallbacks   bool
	requireAll  Params // require_parameters: every one of these
	ctxNeed     int
	quantMask   quantMask
	quantOther  bool
	estPrompt   float64
	estComplete float64
	images      float64
	partitionNo bool
	sortBy      SortBy
	thresholds  bool
}

func (c *rankCtx) init(r *Router, s *Snapshot, req *Request, now int64) {
	c.r, c.s, c.req, c.now = r, s, req, now
	c.pref = req.Provider
	p := c.pref
	c.fallbacks = p.fallbacksAllowed()
	if p != nil {
		c.order.resolve(s, p.Order, len(p.Order) > 0)
		c.only.resolve(s, p.Only, len(p.Only) > 0)
		c.ignore.resolve(s, p.Ignore, len(p.Ignore) > 0)
		for _, q := range p.Quantizations {
			m := parseQuant(q)
			if m == quantOther {
				c.quantOther = true
			}
			c.quantMask |= m
		}
		c.sortBy = p.Sort.By
		c.partitionNo = p.Sort.Partition == PartitionNone
		c.thresholds = !p.PreferredMaxLatency.IsZero() || !p.PreferredMinThroughput.IsZero()
		if p.RequireParameters {
			c.requireAll = req.Params | featureParams(req)
		}
	}
	c.allowed.resolve(s, req.AllowedProviders, req.AllowedProviders != nil)
	if req.PromptTokens > 0 || req.MaxTokens > 0 {
		c.ctxNeed = max(req.PromptTokens, 0) + max(req.MaxTokens, 0)
	}
	c.estPrompt = float64(r.cfg.DefaultPromptTokens)
	if req.PromptTokens > 0 {
		c.estPrompt = float64(req.PromptTokens)
	}
	c.estComplete = float64(r.cfg.DefaultCompletionTokens)
	if req.MaxTokens > 0 {
		c.estComplete = float64(req.MaxTokens)
	}
	if req.Images {
		c.images = 1
	}
}

// featureParams are the parameters implied by the request's features.
func featureParams(req *Request) Params {
	var p Params
	if req.Tools {
		p |= ParamTools
	}
	if req.ToolChoice {
		p |= ParamToolChoice
	}
	if req.JSONObject {
		p |= ParamResponseFormat
	}
	if req.JSONSchema {
		p |= ParamResponseFormat | ParamStructuredOutputs
	}
	if req.Reasoning {
		p |= ParamReasoning
	}
	return p
}

// check runs the hard filters on e and returns the first that fails, or
// fPass.
func (c *rankCtx) check(e *Endpoint, v Variant, auto bool) int {
	req, p := c.req, c.pref
	if e.Disabled || e.prov.Disabled {
		return fDisabled
	}
	if c.allowed.set && !c.allowed.has(e) {
		return fAllowed
	}
	if c.only.set && !c.only.has(e) {
		return fOnly
	}
	if c.ignore.set && c.ignore.has(e) {
		return fIgnore
	}
	if !c.fallbacks && c.order.set && !c.order.has(e) {
		return fOrder
	}
	if v == VariantFree && !e.Pricing.IsFree() {
		return fFree
	}
	if c.ctxNeed > 0 && e.ctx > 0 && c.ctxNeed > e.ctx {
		return fContext
	}
	if req.MaxTokens > 0 && e.MaxCompletionTokens > 0 && req.MaxTokens > e.MaxCompletionTokens {
		return fMaxTokens
	}
	if req.Images && !e.images {
		return fImages
	}
	if !e.allParam {
		if (req.Tools || req.ToolChoice) && e.params&ParamTools == 0 {
			return fTools
		}
		if (req.JSONObject || req.JSONSchema) && e.params&ParamResponseFormat == 0 {
			return fResponseFormat
		}
		if (v == VariantThinking || (auto && req.Reasoning)) && e.params&ParamReasoning == 0 {
			return fReasoning
		}
		if auto && req.JSONSchema && e.params&ParamStructuredOutputs == 0 {
			return fResponseFormat
		}
		if c.requireAll != 0 && !e.params.Has(c.requireAll) {
			return fRequireParameters
		}
	}
	if p == nil {
		return fPass
	}
	if p.DataCollection == DataCollectionDeny && (e.prov.DataPolicy.Training || e.prov.DataPolicy.RetainsPrompts) {
		return fDataCollection
	}
	if p.ZDR && !e.prov.DataPolicy.ZDR {
		return fZDR
	}
	if len(p.Quantizations) > 0 && !c.quantOK(e) {
		return fQuantizations
	}
	mp := &p.MaxPrice
	if mp.Prompt != nil && e.Pricing.Prompt > *mp.Prompt {
		return fMaxPricePrompt
	}
	if mp.Completion != nil && e.Pricing.Completion > *mp.Completion {
		return fMaxPriceCompletion
	}
	if mp.Request != nil && e.Pricing.Request > *mp.Request {
		return fMaxPriceRequest
	}
	if req.Images && mp.Image != nil && e.Pricing.Image > *mp.Image {
		return fMaxPriceImage
	}
	return fPass
}

// Hard filters in the order they run; check returns the first that fails.
const (
	fPass = iota
	fDisabled
	fAllowed
	fOnly
	fIgnore
	fOrder
	fFree
	fContext
	fMaxTokens
	fImages
	fTools
	fResponseFormat
	fReasoning
	fRequireParameters
	fDataCollection
	fZDR
	fQuantizations
	fMaxPricePrompt
	fMaxPriceCompletion
	fMaxPriceRequest
	fMaxPriceImage
)

// filterOrder names the constraint of each filter.
var filterOrder = [...]Constraint{
	fDisabled:           ConstraintDisabled,
	fAllowed:            ConstraintAllowedProviders,
	fOnly:               ConstraintOnly,
	fIgnore:             ConstraintIgnore,
	fOrder:              ConstraintOrder,
	fFree:               ConstraintFree,
	fContext:            ConstraintContextLength,
	fMaxTokens:          ConstraintMaxTokens,
	fImages:             ConstraintImages,
	fTools:              ConstraintTools,
	fResponseFormat:     ConstraintResponseFormat,
	fReasoning:          ConstraintReasoning,
	fRequireParameters:  ConstraintRequireParameters,
	fDataCollection:     ConstraintDataCollection,
	fZDR:                ConstraintZDR,
	fQuantizations:      ConstraintQuantizations,
	fMaxPricePrompt:     ConstraintMaxPricePrompt,
	fMaxPriceCompletion: ConstraintMaxPriceComplete,
	fMaxPriceRequest:    ConstraintMaxPriceRequest,
	fMaxPriceImage:      ConstraintMaxPriceImage,
}

func (c *rankCtx) quantOK(e *Endpoint) bool {
	if e.quant&c.quantMask != 0 && e.quant != quantOther {
		return true
	}
	if e.quant == quantOther && c.quantOther {
		for _, q := range c.pref.Quantizations {
			if strings.EqualFold(q, e.Quantization) {
				return true
			}
		}
	}
	return false
}

// cost is the expected nano-USD cost of the request on e (a score, not
// money: it only orders endpoints).
func (c *rankCtx) cost(e *Endpoint) float64 {
	p := &e.Pricing
	return float64(p.Prompt)*c.estPrompt/1e6 + float64(p.Completion)*c.estComplete/1e6 +
		float64(p.Request) + float64(p.Image)*c.images
}

// group is one model entry of the request.
type group struct {
	m    *Model
	v    Variant
	idx  int // partition index
	mode mode
	auto bool
}

func (c *rankCtx) modeFor(v Variant) mode {
	if c.order.set {
		return modeOrder
	}
	return c.restSort(v)
}

// Rank appends the request's candidates to dst in the order core should try
// them and returns the extended slice. It does not allocate when cap(dst)
// is large enough. See the package documentation for the rules.
//
// Rank reads live statistics and may claim the half-open probe of an
// endpoint (see Begin); apart from that it has no side effects.
func (r *Router) Rank(req *Request, dst []Candidate) ([]Candidate, error) {
	s := r.snap.Load()
	var c rankCtx
	c.init(r, s, req, r.now().UnixNano())
	start := len(dst)

	known := 0
	var firstKnown string
	worst := 0 // worst (latest) constraint that emptied the first known model
	firstDone := false
	gi := 0
	n := 1 + len(req.Models)
	for i := 0; i < n; i++ {
		name := req.Model
		if i > 0 {
			name = req.Models[i-1]
		}
		if name == "" || seenBefore(req, i, name) {
			continue
		}
		id, v := ParseModel(name)
		if id == AutoModel || id == openRouterAutoModel {
			var picked [maxAuto]*Model
			k := c.pickAuto(v, &picked)
			if known == 0 {
				firstKnown = name
			}
			known++
			if k == 0 {
				if !firstDone {
					firstDone = true
					worst = c.autoWorst(v)
				}
				continue
			}
			for j := 0; j < k; j++ {
				g := group{m: picked[j], v: v, idx: gi, auto: true}
				g.mode = c.modeFor(v)
				before := len(dst)
				dst, _ = c.collect(&g, dst, start)
				if len(dst) > before {
					gi++
				}
			}
			firstDone = true
			continue
		}
		m, ok := s.modelByID[name]
		if ok {
			v = VariantNone
		} else if m, ok = s.modelByID[id]; !ok {
			continue
		}
		if known == 0 {
			firstKnown = name
		}
		known++
		g := group{m: m, v: v, idx: gi}
		g.mode = c.modeFor(v)
		before := len(dst)
		var w int
		dst, w = c.collect(&g, dst, start)
		if len(dst) > before {
			gi++
		} else if !firstDone {
			worst = w
		}
		firstDone = true
	}
	if known == 0 {
		return dst, fmt.Errorf("%w %q", ErrUnknownModel, firstName(req))
	}
	if len(dst) == start {
		if worst == fPass {
			worst = fDisabled
		}
		return dst, &NoEndpointError{Model: firstKnown, Constraint: filterOrder[worst]}
	}
	cs := dst[start:]
	sortCandidates(cs)
	r.shuffleWeighted(cs)
	if !c.fallbacks && !c.order.set {
		dst = dst[:start+keepFirstPerGroup(cs)]
	}
	return dst, nil
}

func firstName(req *Request) string {
	if req.Model != "" {
		return req.Model
	}
	for _, m := range req.Models {
		if m != "" {
			return m
		}
	}
	return ""
}

func seenBefore(req *Request, i int, name string) bool {
	if i > 0 && req.Model == name {
		return true
	}
	for j := 0; j < i-1; j++ {
		if req.Models[j] == name {
			return true
		}
	}
	return false
}

// collect appends the endpoints of g that pass the filters. It returns the
// index of the constraint that removed the last endpoint when none pass.
func (c *rankCtx) collect(g *group, dst []Candidate, start int) ([]Candidate, int) {
	worst := 0
	probed := false
	for _, e := range g.m.Endpoints {
		if f := c.check(e, g.v, g.auto); f != fPass {
			worst = max(worst, f)
			continue
		}
		dst = append(dst, Candidate{Endpoint: e, Variant: g.v, seq: int16(min(len(dst)-start, math.MaxInt16))})
		c.place(g, e, &dst[len(dst)-1], &probed)
	}
	if len(g.m.Endpoints) == 0 {
		worst = fDisabled
	}
	return dst, worst
}

// place computes the candidate's tier, bucket, sort keys and reason.
func (c *rankCtx) place(g *group, e *Endpoint, cand *Candidate, probed *bool) {
	st := e.st
	now := c.now
	tier := tierMeet
	probe := false
	cool := st.cooldownUntil.Load() > now
	if ou := st.openUntil.Load(); ou != 0 {
		tier = tierUnhealthy
		// Half-open: admit one probe. The outage rule is ignored here (the
		// probe is what tests whether the outage is over); a cooldown is
		// not. In the weighted default the probe goes first (one per model
		// group per ranking); with an order or a sort it keeps its place.
		if !cool && now >= ou && !(g.mode == modeWeighted && *probed) {
			if l := st.lease.Load(); l != math.MaxInt64 && l <= now && st.lease.CompareAndSwap(l, now+int64(c.r.cfg.ProbeLease)) {
				tier = tierMeet
				probe = true
				*probed = true
			}
		}
	} else if cool || st.outageUntil.Load() > now {
		tier = tierUnhealthy
	}
	// Peers' hints stand in for missing local statistics (hint.go).
	h, hf := c.hintFor(st)
	if h != nil && tier == tierMeet && !probe && h.unhealthy > now {
		tier = tierUnhealthy
	}
	if tier == tierMeet && !probe && c.thresholds && !c.meetsPreferred(st) {
		tier = tierMiss
	}

	sub := subPrimary
	m := g.mode
	if m == modeOrder {
		if c.order.has(e) {
			cand.key = float64(c.order.pos(e))
		} else {
			sub = subRest
			m = c.restSort(g.v)
		}
	}
	weighted := false
	switch m {
	case modeOrder:
		cand.key2 = float64(g.idx)
	case modeSortPrice:
		cand.key, cand.key2 = c.cost(e), float64(g.idx)
	case modeSortLatency:
		t := math.Float64frombits(st.ttft.Load())
		if t == 0 && h != nil {
			t = h.ttft
		}
		if t == 0 {
			t = math.Inf(1) // unmeasured endpoints go after measured ones, by price
		}
		cand.key, cand.key2 = t, c.cost(e)
	case modeSortThroughput:
		tp := math.Float64frombits(st.tput.Load())
		if tp == 0 && h != nil {
			tp = h.tput
		}
		cand.key, cand.key2 = -tp, c.cost(e)
	case modeWeighted:
		if tier == tierUnhealthy {
			cand.key, cand.key2 = c.cost(e), float64(g.idx)
		} else {
			weighted = true
			cand.key2 = c.weight(st, c.cost(e), h, hf)
		}
	}
	if probe && g.mode == modeWeighted {
		sub = subProbe
		weighted = false
	}

	switch {
	case probe:
		cand.Reason = ReasonProbe
	case tier != tierMeet || sub == subRest:
		cand.Reason = ReasonFallback
	default:
		cand.Reason = modeReason[m]
	}
	grp := g.idx
	if c.partitionNo {
		grp = 0
	}
	cand.bucket = uint32(tier)<<22 | uint32(min(grp, 1<<16-1))<<4 | uint32(sub)<<1
	if weighted {
		cand.bucket |= 1
	}
}

var modeReason = [...]Reason{modeWeighted: ReasonWeighted, modeOrder: ReasonOrder, modeSortPrice: ReasonSortPrice, modeSortLatency: ReasonSortLatency, modeSortThroughput: ReasonSortThroughput}

// restSort orders what provider.order leaves out: the explicit sort or
// variant if any, else the weighted default.
func (c *rankCtx) restSort(v Variant) mode {
	by := c.sortBy
	if by == "" {
		switch v {
		case VariantNitro:
			by = SortThroughput
		case VariantFloor:
			by = SortPrice
		}
	}
	switch by {
	case SortPrice:
		return modeSortPrice
	case SortLatency:
		return modeSortLatency
	case SortThroughput:
		return modeSortThroughput
	}
	return modeWeighted
}

// weight is the default weighting: inverse square of the expected cost,
// scaled by the latency factor and the error factor. h, when not nil, is
// the endpoint's hint, counting for the share hf (hintFor).
func (c *rankCtx) weight(st *epStats, price float64, h *hint, hf float64) float64 {
	cfg := &c.r.cfg
	p := max(price, cfg.PriceFloor)
	w := 1 / (p * p)
	t := math.Float64frombits(st.ttft.Load())
	if t == 0 && h != nil {
		t = h.ttft
	}
	if t > 0 {
		w /= 1 + t/float64(cfg.LatencyScale)
	}
	rate := 0.0
	if s := math.Float64frombits(st.errS.Load()); s > 0 {
		rate, _ = errorRate(s, math.Float64frombits(st.errW.Load()), st.errT.Load(), c.now, float64(cfg.ErrorHalfLife))
	}
	if h != nil {
		rate = hf*h.errRate + (1-hf)*rate
	}
	if rate > 0 {
		f := (1 - rate) * (1 - rate)
		w *= max(f, cfg.ErrorScoreFloor)
	}
	return w
}

// routingStale is how old published percentiles may be before preferred_*
// ignores them (the routing window).
const routingStale = int64(routingWindow) * slotNanos

func (c *rankCtx) meetsPreferred(st *epStats) bool {
	at := st.pubAt.Load()
	if at == 0 || c.now-at > routingStale {
		return true // no recent data: benefit of the doubt
	}
	lat := &c.pref.PreferredMaxLatency
	for i, cut := range [4]float64{lat.P50, lat.P75, lat.P90, lat.P99} {
		if cut > 0 {
			if v := st.ttftQ[i].Load(); v > 0 && float64(v) > cut*1e9 {
				return false
			}
		}
	}
	tp := &c.pref.PreferredMinThroughput
	for i, cut := range [4]float64{tp.P50, tp.P75, tp.P90, tp.P99} {
		if cut > 0 {
			if v := math.Float64frombits(st.tputQ[i].Load()); v > 0 && v < cut {
				return false
			}
		}
	}
	return true
}

func lessCandidate(a, b *Candidate) bool {
	if a.bucket != b.bucket {
		return a.bucket < b.bucket
	}
	if a.bucket&1 == 1 {
		// Weighted bucket: key2 holds the weight and drawWeighted orders
		// it; keep catalog order so the sort is linear.
		return a.seq < b.seq
	}
	if a.key != b.key {
		return a.key < b.key
	}
	if a.key2 != b.key2 {
		return a.key2 < b.key2
	}
	return a.seq < b.seq
}

func cmpCandidate(a, b Candidate) int {
	if lessCandidate(&a, &b) {
		return -1
	}
	if lessCandidate(&b, &a) {
		return 1
	}
	return 0
}

// sortCandidates orders by bucket, then keys. Insertion sort for the usual
// handful of endpoints; the generic sort beyond that.
func sortCandidates(cs []Candidate) {
	if len(cs) > 48 {
		slices.SortFunc(cs, cmpCandidate)
		return
	}
	for i := 1; i < len(cs); i++ {
		for j := i; j > 0 && lessCandidate(&cs[j], &cs[j-1]); j-- {
			cs[j], cs[j-1] = cs[j-1], cs[j]
		}
	}
}

// shuffleWeighted turns each weighted bucket into a weighted random
// permutation: successive draws without replacement, each ∝ weight.
func (r *Router) shuffleWeighted(cs []Candidate) {
	var rng splitmix
	seeded := false
	for i := 0; i < len(cs); {
		j := i + 1
		for j < len(cs) && cs[j].bucket == cs[i].bucket {
			j++
		}
		if cs[i].bucket&1 == 1 && j-i > 1 {
			if !seeded {
				// One atomic step per ranking; the draws continue locally.
				rng = splitmix(r.rnd.Add(splitmixGamma))
				seeded = true
			}
			drawWeighted(cs[i:j], &rng)
		}
		i = j
	}
}

// maxDrawRun is the largest bucket drawn on the stack; bigger buckets (rare:
// one model with more than 64 endpoints) are drawn in place.
const maxDrawRun = 64

// weightedDraws is how many leading positions of a weighted bucket are drawn
// at random (successively, without replacement, each ∝ weight). The rest,
// reached only after that many failed attempts, follow in descending weight.
const weightedDraws = 4

// drawWeighted permutes run: weightedDraws successive weighted draws, then
// the remainder by descending weight. The weights are kept in descending
// order so that a draw, which scans from the heaviest, stops early.
func drawWeighted(run []Candidate, rng *splitmix) {
	n := len(run)
	if n > maxDrawRun {
		drawWeightedInPlace(run, rng)
		return
	}
	var w [maxDrawRun]float64
	var idx [maxDrawRun]uint8
	var total float64
	for k := 0; k < n; k++ {
		x := run[k].key2
		total += x
		// Insertion into descending order (stable for equal weights).
		m := k
		for m > 0 && w[m-1] < x {
			w[m], idx[m] = w[m-1], idx[m-1]
			m--
		}
		w[m], idx[m] = x, uint8(k)
	}
	for k := 0; k < min(n-1, weightedDraws); k++ {
		u := rng.float64() * total
		pick := n - 1
		for m := k; m < n; m++ {
			u -= w[m]
			if u < 0 {
				pick = m
				break
			}
		}
		pw, pi := w[pick], idx[pick]
		total -= pw
		// Move the pick to k, shifting the rest right: order is preserved.
		copy(w[k+1:pick+1], w[k:pick])
		copy(idx[k+1:pick+1], idx[k:pick])
		w[k], idx[k] = pw, pi
		if !(total > 0) {
			// Rounding ate the rest: recompute instead of drifting.
			total = 0
			for m := k + 1; m < n; m++ {
				total += w[m]
			}
		}
	}
	permute(run, idx[:n])
}

// permute sets run[k] = old run[idx[k]] in place, following cycles.
func permute(run []Candidate, idx []uint8) {
	var done [maxDrawRun / 64]uint64
	for start := range run {
		if done[start>>6]&(1<<uint(start&63)) != 0 || int(idx[start]) == start {
			continue
		}
		saved := run[start]
		j := start
		for {
			done[j>>6] |= 1 << uint(j&63)
			next := int(idx[j])
			if next == start {
				run[j] = saved
				break
			}
			run[j] = run[next]
			j = next
		}
	}
}

// drawWeightedInPlace is drawWeighted for very large buckets: the same
// leading draws, then the remainder in descending weight.
func drawWeightedInPlace(run []Candidate, rng *splitmix) {
	var total float64
	for k := range run {
		total += run[k].key2
	}
	k := 0
	for ; k < min(len(run)-1, weightedDraws); k++ {
		u := rng.float64() * total
		pick := len(run) - 1
		for m := k; m < len(run); m++ {
			u -= run[m].key2
			if u < 0 {
				pick = m
				break
			}
		}
		total -= run[pick].key2
		run[k], run[pick] = run[pick], run[k]
		if !(total > 0) {
			total = 0
			for m := k + 1; m < len(run); m++ {
				total += run[m].key2
			}
		}
	}
	slices.SortStableFunc(run[k:], func(a, b Candidate) int { return cmp.Compare(b.key2, a.key2) })
}

// keepFirstPerGroup implements allow_fallbacks=false without an order: only
// the first candidate of each model group stays. It returns the new length.
func keepFirstPerGroup(cs []Candidate) int {
	n := 0
	for i := range cs {
		grp := cs[i].bucket >> 4 & (1<<16 - 1)
		dup := false
		for j := 0; j < n; j++ {
			if cs[j].bucket>>4&(1<<16-1) == grp {
				dup = true
				break
			}
		}
		if !dup {
			cs[n] = cs[i]
			n++
		}
	}
	return n
}

// splitmixGamma is the splitmix64 increment.
const splitmixGamma = 0x9e3779b97f4a7c15

// splitmix is a splitmix64 generator. The router keeps its state in an
// atomic counter (lock-free, reproducible for a given seed and call order);
// each ranking takes one step from it and continues locally.
type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += splitmixGamma
	x := uint64(*s)
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// float64 returns a uniform number in [0, 1).
func (s *splitmix) float64() float64 { return float64(s.next()>>11) / (1 << 53) }

// maxAuto bounds AutoModel's expansion (1 + AutoFallbackModels).
const maxAuto = 1 + maxAutoFallbacks

// pickAuto writes the cheapest qualifying models to out, cheapest first, and
// returns how many it found. A model qualifies when one of its endpoints
// passes every hard filter plus AutoModel's needs; its cost is that of its
// cheapest qualifying endpoint for this request. Ties go to the smaller id.
func (c *rankCtx) pickAuto(v Variant, out *[maxAuto]*Model) int {
	k := 1 + max(c.r.cfg.AutoFallbackModels, 0)
	var best [maxAuto]float64
	n := 0
	for _, m := range c.s.models {
		cheapest := math.Inf(1)
		for _, e := range m.Endpoints {
			if c.check(e, v, true) == fPass {
				cheapest = min(cheapest, c.cost(e))
			}
		}
		if math.IsInf(cheapest, 1) {
			continue
		}
		pos := n
		for pos > 0 && cheapest < best[pos-1] {
			pos--
		}
		if pos >= k {
			continue
		}
		for j := min(n, k-1); j > pos; j-- {
			best[j], out[j] = best[j-1], out[j-1]
		}
		best[pos], out[pos] = cheapest, m
		if n < k {
			n++
		}
	}
	return n
}

// autoWorst is the constraint that left AutoModel without any model.
func (c *rankCtx) autoWorst(v Variant) int {
	worst := fDisabled
	for _, m := range c.s.models {
		for _, e := range m.Endpoints {
			worst = max(worst, c.check(e, v, true))
		}
	}
	return worst
}
