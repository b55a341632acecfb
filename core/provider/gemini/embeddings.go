package gemini

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"

	json "github.com/goccy/go-json"
	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
)

// Embeddings: an OpenAI /embeddings request becomes one
// batchEmbedContents call whatever the shape of "input" (a string is a
// batch of one), so one translation serves both shapes and the answer
// always lists embeddings in input order.

var _ provider.Embedder = Adapter{}

// maxEmbedBatch is the most requests batchEmbedContents takes in one call
// ("at most 100 requests can be in one batch"). A bigger input is refused
// before it is sent, so another candidate may still serve it.
const maxEmbedBatch = 100

// embedOptions are the OpenAI embeddings parameters besides input and
// model that the translation honours.
type embedOptions struct {
	dimensions int64 // outputDimensionality; 0: the model's default
	base64     bool  // encoding_format "base64"
}

// parseEmbedOptions reads dimensions and encoding_format from the
// client's body (already validated by peek). Other members (user,
// provider preferences…) mean nothing to Gemini and are dropped.
func parseEmbedOptions(body []byte) (embedOptions, error) {
	var o embedOptions
	err := peek.Members(body, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "dimensions":
			if peek.IsNull(m.Value) {
				return nil
			}
			n, err := peek.Int(m.Value)
			if err != nil || n < 1 || n > math.MaxInt32 {
				return badRequest("'dimensions' must be a positive integer")
			}
			o.dimensions = n
		case "encoding_format":
			if peek.IsNull(m.Value) {
				return nil
			}
			s, err := peek.String(m.Value)
			switch {
			case err != nil:
				return badRequest(`'encoding_format' must be "float" or "base64"`)
			case string(s) == "base64":
				o.base64 = true
			case string(s) != "float":
				return badRequest(`'encoding_format' must be "float" or "base64"`)
			}
		}
		return nil
	})
	return o, err
}

// eachInput calls fn with the decoded text of every element of the raw
// "input" (a string is one element) and returns their number and total
// bytes. Token-id arrays, empty strings and an empty list are
// *peek.BadRequest: Gemini embeds text only, and refuses empty content.
func eachInput(raw []byte, fn func(text []byte)) (n, size int, err error) {
	raw = bytes.TrimSpace(raw)
	one := func(v []byte) error {
		switch {
		case len(v) > 0 && v[0] == '"':
			s, err := peek.String(v)
			if err != nil {
				return badRequest("'input' holds an invalid string")
			}
			if len(s) == 0 {
				return badRequest("'input' must not contain empty strings")
			}
			if n == maxEmbedBatch {
				return badRequest("'input' has more than " + strconv.Itoa(maxEmbedBatch) + " items; Gemini embeds at most " + strconv.Itoa(maxEmbedBatch) + " per request")
			}
			n++
			size += len(s)
			if fn != nil {
				fn(s)
			}
			return nil
		case len(v) > 0 && (v[0] == '[' || v[0] == '-' || (v[0] >= '0' && v[0] <= '9')):
			return badRequest("'input' holds token ids; Gemini embeds text only: send a string or an array of strings")
		}
		return badRequest("'input' must be a string or an array of strings")
	}
	switch {
	case len(raw) > 0 && raw[0] == '[':
		err = peek.Elements(raw, one)
		if se := (*peek.SyntaxError)(nil); errors.As(err, &se) {
			err = badRequest("'input' is not a valid JSON array")
		}
	default:
		err = one(raw)
	}
	if err == nil && n == 0 {
		err = badRequest("'input' must not be empty")
	}
	return n, size, err
}

// appendModelName appends the model's resource name (models/…), which
// every request of a batch must repeat.
func appendModelName(dst []byte, model string) []byte {
	if !strings.Contains(model, "/") {
		dst = append(dst, "models/"...)
	}
	return append(dst, model...)
}

// WriteEmbeddings builds POST {base}/models/{model}:batchEmbedContents
// with x-goog-api-key: one EmbedContentRequest per input text, with
// dimensions as outputDimensionality. An input Gemini cannot embed is a
// *peek.BadRequest.
func (Adapter) WriteEmbeddings(req *fasthttp.Request, c *provider.Call) error {
	opts, err := parseEmbedOptions(c.Body)
	if err != nil {
		return err
	}
	model := c.Endpoint.UpstreamModelID()
	u := c.Upstream
	c.Scratch = u.Client.URL(c.Scratch[:0], "")
	c.Scratch = appendModelPath(c.Scratch, model, "batchEmbedContents")
	provider.StartRequest(req, c, c.Scratch)
	if u.APIKey != "" {
		req.Header.Set("x-goog-api-key", u.APIKey)
	}
	u.ApplyHeaders(req)
	dst := append(c.Scratch[:0], `{"requests":[`...)
	i := 0
	_, _, err = eachInput(c.Chat.Prompt, func(text []byte) {
		if i > 0 {
			dst = append(dst, ',')
		}
		i++
		dst = append(dst, `{"model":"`...)
		dst = appendModelName(dst, model) // ids are path segments: nothing to escape
		dst = append(dst, `","content":{"parts":[{"text":`...)
		dst = peek.AppendStringBytes(dst, text)
		dst = append(dst, "}]}"...)
		if opts.dimensions > 0 {
			dst = append(dst, `,"outputDimensionality":`...)
			dst = strconv.AppendInt(dst, opts.dimensions, 10)
		}
		dst = append(dst, '}')
	})
	c.Scratch = dst
	if err != nil {
		return err
	}
	c.Scratch = append(c.Scratch, "]}"...)
	req.SetBodyRaw(c.Scratch) // no copy: see Call.Scratch
	return nil
}

// embedResponse is a BatchEmbedContentsResponse, or an error object.
// Values are float32 on the wire (proto "repeated float").
type embedResponse struct {
	Embeddings []struct {
		Values []float32 `json:"values"`
	} `json:"embeddings"`
	Error *apiError `json:"error"`
}

const (
	errEmbedCount = adapterError("gemini: response has a different number of embeddings than inputs")
	errEmbedEmpty = adapterError("gemini: response has an empty embedding")
	errEmbedValue = adapterError("gemini: response has a non-finite embedding value")
)

// ReadEmbeddings converts a BatchEmbedContentsResponse into an OpenAI
// embeddings list. Gemini reports no token counts for embeddings, so the
// prompt tokens are estimated from the input text (HaveUsage false).
func (Adapter) ReadEmbeddings(dst, body []byte, c *provider.Call) ([]byte, *provider.Result, error) {
	res := &provider.Result{}
	opts, err := parseEmbedOptions(c.Body)
	if err != nil {
		return dst, res, err
	}
	n, size, err := eachInput(c.Chat.Prompt, nil)
	if err != nil {
		return dst, res, err
	}
	if err := provider.CheckJSON(body); err != nil {
		return dst, res, err
	}
	var r embedResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return dst, res, err
	}
	if r.Error != nil {
		res.Err = inBandError(r.Error, body)
		return dst, res, nil
	}
	if len(r.Embeddings) != n {
		return dst, res, errEmbedCount
	}
	for i := range r.Embeddings {
		vs := r.Embeddings[i].Values
		if len(vs) == 0 {
			return dst, res, errEmbedEmpty
		}
		for _, v := range vs {
			if math.IsInf(float64(v), 0) || math.IsNaN(float64(v)) {
				return dst, res, errEmbedValue // a float32 overflow: not JSON when written back
			}
		}
	}
	dst = append(dst, `{"id":`...)
	dst = peek.AppendString(dst, c.GenID)
	dst = append(dst, `,"object":"list","created":`...)
	dst = strconv.AppendInt(dst, c.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = peek.AppendString(dst, c.Endpoint.Model)
	dst = append(dst, `,"provider":`...)
	dst = peek.AppendString(dst, c.Upstream.Name)
	dst = append(dst, `,"data":[`...)
	for i := range r.Embeddings {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"object":"embedding","index":`...)
		dst = strconv.AppendInt(dst, int64(i), 10)
		dst = append(dst, `,"embedding":`...)
		if opts.base64 {
			dst = appendBase64Floats(dst, r.Embeddings[i].Values)
		} else {
			dst = appendFloats(dst, r.Embeddings[i].Values)
		}
		dst = append(dst, '}')
	}
	dst = append(dst, ']')
	res.Usage.PromptTokens = provider.EstimateTokens(size)
	dst = append(dst, `,"usage":`...)
	dst = provider.AppendUsage(dst, &res.Usage, c.Endpoint.Pricing.Cost(res.Usage))
	dst = append(dst, '}')
	res.Done = true
	return dst, res, nil
}

// appendFloats appends vs as a JSON array of the shortest decimals that
// read back as the same float32s.
func appendFloats(dst []byte, vs []float32) []byte {
	dst = append(dst, '[')
	for i, v := range vs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = strconv.AppendFloat(dst, float64(v), 'g', -1, 32)
	}
	return append(dst, ']')
}

// appendBase64Floats appends vs as OpenAI's base64 encoding: a JSON
// string of the standard base64 of the little-endian float32 bytes. It
// encodes 12 floats (48 bytes, a multiple of 3) at a time, so the pieces
// join without padding in between and no buffer of the whole vector is
// needed.
func appendBase64Floats(dst []byte, vs []float32) []byte {
	var buf [48]byte
	dst = append(dst, '"')
	for len(vs) > 0 {
		k := min(len(vs), len(buf)/4)
		for j, v := range vs[:k] {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		dst = base64.StdEncoding.AppendEncode(dst, buf[:4*k])
		vs = vs[k:]
	}
	return append(dst, '"')
}
