package routing

// Reason says why a candidate holds its place; core reports the winner's
// reason in X-Tollgate-Route.
type Reason uint8

// Reasons.
const (
	// ReasonWeighted: default price-weighted random choice ("weighted:price").
	ReasonWeighted Reason = iota
	// ReasonOrder: listed in provider.order.
	ReasonOrder
	// ReasonSortPrice, ReasonSortLatency, ReasonSortThroughput: explicit sort
	// or :floor / :nitro.
	ReasonSortPrice
	ReasonSortLatency
	ReasonSortThroughput
	// ReasonProbe: the half-open probe of a recovering endpoint.
	ReasonProbe
	// ReasonFallback: deprioritised (unhealthy, misses a preferred_*
	// threshold, or outside provider.order).
	ReasonFallback
)

var reasonNames = [...]string{"weighted:price", "order", "sort:price", "sort:latency", "sort:throughput", "probe", "fallback"}

func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return "invalid"
}

// Candidate is one entry of a ranking.
type Candidate struct {
	Endpoint *Endpoint
	Reason   Reason
	// Variant is the variant the candidate's model was requested with
	// (core enables reasoning for VariantThinking).
	Variant Variant

	// Ranking scratch, meaningless to callers (laid out so that a
	// Candidate is 32 bytes).
	seq    int16
	bucket uint32
	key    float64
	key2   float64 // secondary key; the weight in weighted buckets
}
