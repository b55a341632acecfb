package api

import (
	"bytes"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/provider/anthropic"
	"github.com/tollgate/tollgate/core/provider/openai"
)

// edgeKind is the wire format a client speaks. The pipeline runs in the
// OpenAI shape; an edge converts the request on the way in and every
// response, stream frame and error on the way out. POST /messages uses the
// Anthropic edge so Anthropic SDKs work against any provider; POST
// /responses the Responses edge (stateless OpenAI Responses API), whose
// errors keep the OpenAI envelope.
type edgeKind uint8

const (
	edgeOpenAI edgeKind = iota
	edgeAnthropic
	edgeResponses
)

// errNoStoredResponses answers the Responses API's retrieval endpoints
// (GET /responses/{id} and kin): the gateway keeps no responses.
var errNoStoredResponses = errorf(fasthttp.StatusNotFound, "responses are not stored: Tollgate's Responses API is stateless (send store: false and the whole conversation as input)")

// request converts the client's body into an OpenAI request body.
func (e edgeKind) request(dst, body []byte) ([]byte, error) {
	switch e {
	case edgeAnthropic:
		return anthropic.InboundRequest(dst, body)
	case edgeResponses:
		return openai.ResponsesRequest(dst, body)
	}
	return append(dst, body...), nil
}

// response converts a complete OpenAI response body.
func (e edgeKind) response(dst, body []byte) ([]byte, error) {
	switch e {
	case edgeAnthropic:
		return anthropic.InboundResponse(dst, body)
	case edgeResponses:
		return openai.ResponsesResponse(dst, body, time.Now().Unix())
	}
	return append(dst, body...), nil
}

// edgeStream converts the OpenAI SSE frames of one stream.
type edgeStream interface {
	Frame(dst, data []byte) ([]byte, error)
}

func (e edgeKind) newStream() edgeStream {
	switch e {
	case edgeAnthropic:
		return anthropic.NewInboundStream()
	case edgeResponses:
		return openai.NewResponsesStream(nil)
	}
	return nil
}

// convertFrames rewrites a buffer of OpenAI SSE frames ("data: …\n\n",
// comments) for the client's edge; comments pass through.
func (st *reqState) convertFrames(frames []byte) []byte {
	if st.edge == edgeOpenAI {
		return frames
	}
	if st.edgeSt == nil {
		st.edgeSt = st.edge.newStream()
	}
	out := st.scratch[:0]
	for len(frames) > 0 {
		i := bytes.Index(frames, []byte("\n\n"))
		var f []byte
		if i < 0 {
			f, frames = frames, nil
		} else {
			f, frames = frames[:i], frames[i+2:]
		}
		if bytes.HasPrefix(f, []byte("data: ")) {
			var err error
			out, err = st.edgeSt.Frame(out, f[len("data: "):])
			if err != nil {
				st.a.log.Warn("cannot convert a stream frame", "gen", st.genID, "error", err)
			}
			continue
		}
		out = append(out, f...)
		out = append(out, "\n\n"...)
	}
	st.scratch = out
	return out
}

// failEdge renders e in the client's wire format.
func (a *API) failEdge(ctx *fasthttp.RequestCtx, r routeID, e *Error, edge edgeKind) {
	if edge != edgeAnthropic {
		a.fail(ctx, r, e)
		return
	}
	a.m.route(r, e.Status)
	WriteError(ctx, e)
	ctx.Response.SetBodyRaw(anthropic.InboundError(nil, e.Status, e.Message))
}
