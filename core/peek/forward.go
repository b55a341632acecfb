package peek

// ForwardOptions says how AppendForward edits a chat request.
type ForwardOptions struct {
	// Model replaces the "model" value (the endpoint's upstream model id).
	Model string
	// StripExtensions drops OpenRouter/Tollgate-only fields (models,
	// provider, route, usage, …) that strict upstreams reject.
	StripExtensions bool
	// IncludeUsage forces stream_options.include_usage=true so the upstream
	// reports usage on streams even when the client did not ask for it.
	IncludeUsage bool
}

// AppendForward appends to dst the request body as it goes upstream: the
// client's bytes member for member, with only the edits in o. Values are
// never re-encoded, so an explicit 0 or false arrives unchanged. c must come
// from ParseChat(body).
func AppendForward(dst, body []byte, c *Chat, o *ForwardOptions) []byte {
	dst = append(dst, '{')
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	haveModel := false
	for i := 0; i < c.NMembers; i++ {
		sp := c.Members[i]
		if o.StripExtensions && c.Ext&(1<<uint(i)) != 0 {
			continue
		}
		if o.IncludeUsage && i == c.StreamOptionsIdx {
			continue
		}
		sep()
		if o.Model != "" && sp.Start <= c.ModelSpan.Start && c.ModelSpan.End == sp.End && c.ModelSpan.End != 0 {
			dst = append(dst, body[sp.Start:c.ModelSpan.Start]...)
			dst = AppendString(dst, o.Model)
			haveModel = true
			continue
		}
		dst = append(dst, body[sp.Start:sp.End]...)
	}
	if o.Model != "" && !haveModel {
		sep()
		dst = append(dst, `"model":`...)
		dst = AppendString(dst, o.Model)
	}
	if o.IncludeUsage {
		sep()
		dst = append(dst, `"stream_options":{`...)
		if i := c.StreamOptionsIdx; i >= 0 {
			// Keep the client's other options (include_obfuscation…):
			// only include_usage is forced.
			k, _ := skipString(body, c.Members[i].Start)
			k = skipWS(body, k) + 1 // past ':'
			_, _ = MembersAt(body, k, func(m Member) error {
				if !KeyIs(m.Key, "include_usage") {
					dst = append(dst, body[m.Start:m.End]...)
					dst = append(dst, ',')
				}
				return nil
			})
		}
		dst = append(dst, `"include_usage":true}`...)
	}
	return append(dst, '}')
}
