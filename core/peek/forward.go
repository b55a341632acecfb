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
	// Messages, when set, writes the value of "messages" instead of the
	// client's bytes (vendor quirks such as Mistral's tool-call ids).
	Messages func(dst, messages []byte) []byte
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
		if o.Messages != nil && c.Messages != nil && KeyIs(MemberKey(body[sp.Start:sp.End]), "messages") {
			dst = append(dst, `"messages":`...)
			dst = o.Messages(dst, c.Messages)
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

// MemberKey returns the raw key of a member's text `"key": value`.
func MemberKey(mem []byte) []byte {
	if len(mem) < 2 || mem[0] != '"' {
		return nil
	}
	for i := 1; i < len(mem); i++ {
		switch mem[i] {
		case '\\':
			i++
		case '"':
			return mem[1:i]
		}
	}
	return nil
}
