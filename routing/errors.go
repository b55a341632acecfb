package routing

import (
	"errors"
	"strconv"
)

// ErrUnknownModel is returned (wrapped) by Rank when no requested model is in
// the catalog.
var ErrUnknownModel = errors.New("routing: unknown model")

// Constraint names the filter that left a request without endpoints. The
// values are the request field (or rule) that excluded the last endpoint.
type Constraint string

// Constraints, in the order the filters run.
const (
	ConstraintDisabled          Constraint = "disabled"
	ConstraintAllowedProviders  Constraint = "allowed_providers"
	ConstraintOnly              Constraint = "provider.only"
	ConstraintIgnore            Constraint = "provider.ignore"
	ConstraintOrder             Constraint = "provider.order"
	ConstraintFree              Constraint = "free"
	ConstraintContextLength     Constraint = "context_length"
	ConstraintMaxTokens         Constraint = "max_tokens"
	ConstraintImages            Constraint = "images"
	ConstraintTools             Constraint = "tools"
	ConstraintResponseFormat    Constraint = "response_format"
	ConstraintReasoning         Constraint = "reasoning"
	ConstraintRequireParameters Constraint = "provider.require_parameters"
	ConstraintDataCollection    Constraint = "provider.data_collection"
	ConstraintZDR               Constraint = "provider.zdr"
	ConstraintQuantizations     Constraint = "provider.quantizations"
	ConstraintMaxPricePrompt    Constraint = "max_price.prompt"
	ConstraintMaxPriceComplete  Constraint = "max_price.completion"
	ConstraintMaxPriceRequest   Constraint = "max_price.request"
	ConstraintMaxPriceImage     Constraint = "max_price.image"
)

// NoEndpointError is returned by Rank when the hard filters leave no
// endpoint. Core maps it to 404.
type NoEndpointError struct {
	// Model is the (first) requested model.
	Model string
	// Constraint is the filter that removed the last endpoint.
	Constraint Constraint
}

func (e *NoEndpointError) Error() string {
	return "no endpoint for model " + strconv.Quote(e.Model) + " satisfies " + string(e.Constraint)
}
