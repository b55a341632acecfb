package api

import (
	"errors"
	"strconv"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/routing"
)

// Error is a failure shown to a client in the OpenAI/OpenRouter shape
// {"error":{"code":…,"message":…,"metadata":{…}}}. It is the one type every
// handler returns for client-visible failures; WriteError is the one place
// that renders it.
type Error struct {
	Status   int
	Message  string
	Metadata map[string]any
	// RetryAfterMs sets Retry-After (seconds, rounded up) on 429/503.
	RetryAfterMs int64
	// Headers are extra response headers (X-RateLimit-*).
	Headers [][2]string
}

func (e *Error) Error() string { return strconv.Itoa(e.Status) + ": " + e.Message }

func errorf(status int, msg string) *Error { return &Error{Status: status, Message: msg} }

var (
	errMissingKey = errorf(fasthttp.StatusUnauthorized, "missing API key: send it as 'Authorization: Bearer <key>'")
	errBadKey     = errorf(fasthttp.StatusUnauthorized, "invalid API key")
	errNotFound   = errorf(fasthttp.StatusNotFound, "no such endpoint")
	errMethod     = errorf(fasthttp.StatusMethodNotAllowed, "method not allowed")
	errOverloaded = &Error{Status: fasthttp.StatusServiceUnavailable, Message: "gateway is at limits.max_concurrent; retry shortly", RetryAfterMs: 1000}
	errShutdown   = errorf(fasthttp.StatusServiceUnavailable, "gateway is shutting down")
)

// AsError maps any error to the client-visible Error: request-body errors
// to 400, routing constraint failures to 404, the rest to 500.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var br *peek.BadRequest
	if errors.As(err, &br) {
		return errorf(fasthttp.StatusBadRequest, br.Msg)
	}
	var ne *routing.NoEndpointError
	if errors.As(err, &ne) {
		return &Error{Status: fasthttp.StatusNotFound, Message: ne.Error(),
			Metadata: map[string]any{"constraint": ne.Constraint}}
	}
	if errors.Is(err, routing.ErrUnknownModel) {
		return errorf(fasthttp.StatusBadRequest, err.Error())
	}
	return errorf(fasthttp.StatusInternalServerError, "internal error")
}

type errorBody struct {
	Error errorObj `json:"error"`
}

type errorObj struct {
	Code     int            `json:"code"`
	Message  string         `json:"message"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// AppendErrorJSON appends the JSON error body of e.
func AppendErrorJSON(dst []byte, e *Error) []byte {
	if e.Metadata == nil {
		dst = append(dst, `{"error":{"code":`...)
		dst = strconv.AppendInt(dst, int64(e.Status), 10)
		dst = append(dst, `,"message":`...)
		dst = peek.AppendString(dst, e.Message)
		return append(dst, "}}"...)
	}
	b, err := json.Marshal(errorBody{Error: errorObj{Code: e.Status, Message: e.Message, Metadata: e.Metadata}})
	if err != nil {
		return AppendErrorJSON(dst, &Error{Status: e.Status, Message: e.Message})
	}
	return append(dst, b...)
}

// WriteError renders e as the response of ctx.
func WriteError(ctx *fasthttp.RequestCtx, e *Error) {
	ctx.Response.ResetBody()
	ctx.SetStatusCode(e.Status)
	ctx.SetContentType("application/json")
	if e.RetryAfterMs > 0 {
		ctx.Response.Header.Set(fasthttp.HeaderRetryAfter, strconv.FormatInt((e.RetryAfterMs+999)/1000, 10))
	}
	for _, h := range e.Headers {
		ctx.Response.Header.Set(h[0], h[1])
	}
	ctx.Response.SetBodyRaw(AppendErrorJSON(ctx.Response.Body()[:0], e))
}
