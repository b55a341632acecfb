package openai

// A frozen copy of ReadChat and stream Event as they were before the
// single-pass choice walk, kept as the reference of the differential
// tests (readchat_diff_test.go) and of BenchmarkReadChatOld. Do not
// "improve" it: its only job is to be the old behaviour.

import (
	"bytes"
	"strconv"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/core/sse"
	"github.com/tollgate/tollgate/routing"
)

func refReadChat(dst, body []byte, c *provider.Call) ([]byte, *provider.Result, error) {
	res := &provider.Result{}
	dst = append(dst, `{"id":`...)
	dst = peek.AppendString(dst, c.GenID)
	dst = append(dst, `,"object":"`...)
	dst = append(dst, c.Object()...)
	dst = append(dst, `","created":`...)
	dst = strconv.AppendInt(dst, c.Created, 10)
	dst = append(dst, `,"model":`...)
	dst = peek.AppendString(dst, c.Endpoint.Model)
	dst = append(dst, `,"provider":`...)
	dst = peek.AppendString(dst, c.Upstream.Name)
	dst, _, err := refRewriteMembers(dst, body, c, res, false)
	if err != nil {
		return dst, res, err
	}
	finishUsage(res, c)
	dst = append(dst, `,"usage":`...)
	dst = provider.AppendUsage(dst, &res.Usage, c.Endpoint.Pricing.Cost(res.Usage))
	dst = append(dst, '}')
	res.Done = true
	return dst, res, nil
}

func refRewriteMembers(dst, obj []byte, c *provider.Call, res *provider.Result, stream bool) ([]byte, int, error) {
	sawChoices := false
	nChoices := 0
	err := peek.Members(obj, func(m peek.Member) error {
		key := peek.Key(m.Key)
		switch string(key) {
		case "id", "object", "created", "model", "provider":
			return nil
		case "usage":
			if !peek.IsNull(m.Value) {
				refParseUsage(m.Value, &res.Usage)
				res.HaveUsage = true
			}
			return nil
		case "error":
			if !peek.IsNull(m.Value) {
				res.Err = inBandError(m.Value)
			}
			return nil
		case "choices":
			sawChoices = true
			dst = append(dst, `,"choices":`...)
			var err error
			dst, nChoices, err = refRewriteChoices(dst, m.Value, c, res, stream)
			return err
		}
		dst = append(dst, ',')
		dst = append(dst, obj[m.Start:m.End]...)
		return nil
	})
	if err != nil {
		return dst, 0, err
	}
	if !sawChoices && c.Kind != peek.KindEmbedding {
		dst = append(dst, `,"choices":[]`...)
	}
	return dst, nChoices, nil
}

func refRewriteChoices(dst, v []byte, c *provider.Call, res *provider.Result, stream bool) ([]byte, int, error) {
	if len(v) == 0 || v[0] != '[' {
		return append(dst, "[]"...), 0, nil
	}
	dst = append(dst, '[')
	n := 0
	err := peek.Elements(v, func(e []byte) error {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
		if len(e) == 0 || e[0] != '{' {
			dst = append(dst, e...)
			return nil
		}
		dst = append(dst, '{')
		k := 0
		_, err := peek.MembersAt(e, 0, func(m peek.Member) error {
			key := peek.Key(m.Key)
			switch string(key) {
			case "native_finish_reason":
				return nil
			case "finish_reason":
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				if peek.IsNull(m.Value) || (stream && string(m.Value) == `""`) {
					dst = append(dst, `"finish_reason":null`...)
					return nil
				}
				native, err := peek.String(m.Value)
				if err != nil {
					native = bytes.Trim(m.Value, `"`)
				}
				res.Native = string(native)
				res.Finish = provider.NormalizeFinish(res.Native)
				dst = append(dst, `"finish_reason":`...)
				dst = peek.AppendString(dst, res.Finish)
				dst = append(dst, `,"native_finish_reason":`...)
				dst = peek.AppendString(dst, res.Native)
				return nil
			case "delta", "message", "text":
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
				res.Started = true
				res.OutputBytes += refContentBytes(m.Value)
				if c.Upstream.Quirks.ReasoningContent && bytes.Contains(m.Value, []byte(`"reasoning_content"`)) {
					dst = append(dst, e[m.Start:m.End-len(m.Value)]...)
					dst = renameKey(dst, m.Value, "reasoning_content", "reasoning")
					return nil
				}
			default:
				if k > 0 {
					dst = append(dst, ',')
				}
				k++
			}
			dst = append(dst, e[m.Start:m.End]...)
			return nil
		})
		dst = append(dst, '}')
		return err
	})
	dst = append(dst, ']')
	return dst, n, err
}

func refContentBytes(v []byte) int {
	if len(v) > 0 && v[0] == '"' {
		return len(v)
	}
	n := 0
	_, _ = peek.MembersAt(v, 0, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "content", "reasoning", "reasoning_content", "tool_calls", "refusal":
			if !peek.IsNull(m.Value) {
				n += len(m.Value)
			}
		}
		return nil
	})
	return n
}

func refParseUsage(v []byte, u *routing.Usage) {
	num := func(b []byte) int {
		n, err := peek.Int(b)
		if err != nil || n < 0 {
			if f, err := strconv.ParseFloat(string(b), 64); err == nil && f >= 0 && f < 1e12 {
				return int(f)
			}
			return 0
		}
		return int(n)
	}
	_, _ = peek.MembersAt(v, 0, func(m peek.Member) error {
		switch string(peek.Key(m.Key)) {
		case "prompt_tokens":
			u.PromptTokens = num(m.Value)
		case "completion_tokens":
			u.CompletionTokens = num(m.Value)
		case "prompt_tokens_details":
			_, _ = peek.MembersAt(m.Value, 0, func(d peek.Member) error {
				switch string(peek.Key(d.Key)) {
				case "cached_tokens":
					u.CachedTokens = num(d.Value)
				case "cache_write_tokens", "cache_creation_tokens":
					u.CacheWriteTokens = num(d.Value)
				}
				return nil
			})
		case "completion_tokens_details":
			_, _ = peek.MembersAt(m.Value, 0, func(d peek.Member) error {
				if peek.KeyIs(d.Key, "reasoning_tokens") {
					u.ReasoningTokens = num(d.Value)
				}
				return nil
			})
		}
		return nil
	})
}

// refStream is stream.Event with the reference rewriteMembers.
type refStream struct {
	call *provider.Call
	res  provider.Result
}

func (s *refStream) Event(dst []byte, ev *sse.Event) ([]byte, error) {
	data := ev.Data
	if sse.IsDone(data) {
		s.res.Done = true
		return dst, nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return dst, nil
	}
	mark := len(dst)
	dst = append(dst, "data: "...)
	dst = provider.AppendChunkHead(dst, s.call)
	dst = dst[:len(dst)-1]
	dst, n, err := refRewriteMembers(dst, data, s.call, &s.res, true)
	if err != nil {
		return dst[:mark], &provider.Failure{Message: "upstream sent malformed stream data: " + err.Error(), Raw: clip(data)}
	}
	if s.res.Err != nil {
		return dst[:mark], nil
	}
	if n == 0 {
		return dst[:mark], nil
	}
	if bytes.IndexByte(data, '\n') >= 0 {
		for i := mark; i < len(dst); i++ {
			if dst[i] == '\n' {
				dst[i] = ' '
			}
		}
	}
	dst = append(dst, "}\n\n"...)
	return dst, nil
}
