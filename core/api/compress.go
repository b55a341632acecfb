package api

import (
	"bytes"

	"github.com/tollgate/tollgate/core/peek"
	"github.com/tollgate/tollgate/core/provider"
	"github.com/tollgate/tollgate/routing"
)

// smallContext is the context size at or below which middle-out
// compression is on unless the request says "transforms": [] (OpenRouter's
// default).
const smallContext = 8192

// middleOut applies OpenRouter's context compression: when the request
// asks for it ("transforms": ["middle-out"] or a "context-compression"
// plugin), or the model's largest context is ≤ 8k and the request did not
// turn it off, and the prompt estimate plus the completion budget does not
// fit that context, messages are dropped from the middle — the first and
// last are always kept — until it fits. The body is rebuilt around the new
// messages array and parsed again. It reports whether it changed the body.
func (a *API) middleOut(st *reqState) (bool, error) {
	c := &st.chat
	if st.kind != peek.KindChat || c.Messages == nil {
		return false, nil
	}
	explicit := bytes.Contains(c.Transforms, []byte(`"middle-out"`)) || bytes.Contains(c.Plugins, []byte(`"context-compression"`))
	if c.Transforms != nil && !explicit {
		return false, nil // "transforms": [] turns the default off
	}
	id, _ := routing.ParseModel(string(c.Model))
	m, ok := a.o.Router.Snapshot().Model(id)
	if !ok {
		return false, nil
	}
	ctxLen := 0
	for _, ep := range m.Endpoints {
		ctxLen = max(ctxLen, ep.EffectiveContextLength())
	}
	if ctxLen == 0 || (!explicit && ctxLen > smallContext) {
		return false, nil
	}
	budget := ctxLen - int(c.MaxTokens)
	if c.MaxTokens == 0 {
		budget = ctxLen - min(ctxLen/4, defaultMaxTokens)
	}
	if provider.EstimateTokens(len(c.Messages)) <= budget {
		return false, nil
	}
	var elems [][]byte
	_ = peek.Elements(c.Messages, func(e []byte) error {
		elems = append(elems, e)
		return nil
	})
	if len(elems) < 3 {
		return false, nil
	}
	total := 2
	for _, e := range elems {
		total += len(e) + 1
	}
	keep := make([]bool, len(elems))
	for i := range keep {
		keep[i] = true
	}
	// Drop from the middle outward, alternating sides, until it fits.
	lo, hi := (len(elems)-1)/2, (len(elems)-1)/2+1
	for left := true; provider.EstimateTokens(total) > budget && (lo >= 1 || hi <= len(elems)-2); left = !left {
		if (left && lo >= 1) || hi > len(elems)-2 {
			keep[lo] = false
			total -= len(elems[lo]) + 1
			lo--
		} else {
			keep[hi] = false
			total -= len(elems[hi]) + 1
			hi++
		}
	}
	msgs := make([]byte, 0, total)
	msgs = append(msgs, '[')
	n := 0
	for i, e := range elems {
		if !keep[i] {
			continue
		}
		if n > 0 {
			msgs = append(msgs, ',')
		}
		n++
		msgs = append(msgs, e...)
	}
	msgs = append(msgs, ']')
	body := make([]byte, 0, len(st.body))
	body = append(body, '{')
	for i := 0; i < c.NMembers; i++ {
		sp := c.Members[i]
		if i > 0 {
			body = append(body, ',')
		}
		mem := st.body[sp.Start:sp.End]
		if peek.KeyIs(peek.MemberKey(mem), "messages") {
			body = append(body, `"messages":`...)
			body = append(body, msgs...)
			continue
		}
		body = append(body, mem...)
	}
	body = append(body, '}')
	st.body = append(st.body[:0], body...)
	if err := peek.ParseRequest(st.body, c, st.kind); err != nil {
		return false, err
	}
	return true, nil
}
