package api

// The operator's account API on the admin listener (core checks the admin
// key before calling Admin):
//
//	GET  /admin/v1/accounts                    accounts with credits and balance
//	POST /admin/v1/accounts                    {name} → 201 account
//	GET  /admin/v1/accounts/{ref}              account with credits and balance
//	GET  /admin/v1/accounts/{ref}/credits      credits, balance and grants
//	POST /admin/v1/accounts/{ref}/credits      {amount} + Idempotency-Key → grant
//	GET  /admin/v1/accounts/{ref}/keys         the account's keys
//	POST /admin/v1/accounts/{ref}/keys         {name, management, limit, limit_reset, expires_at, disabled} → 201 + key
//	GET|PATCH|DELETE /admin/v1/keys/{hash}     any account's key
//	POST /admin/v1/analytics/query             any account, or all
//	GET  /admin/v1/generation?id=              any account's generation (GET /generation's shape)
//
// {ref} is an account id (acct_…) or name, path-escaped.

import (
	"errors"
	"net/url"
	"strings"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/tollgate/tollgate/ledger"
)

var errNoSuchAccount = errorf(fasthttp.StatusNotFound, "no such account")

// accountObject is an account as the admin API shows it.
type accountObject struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	CreatedAt    string `json:"created_at"`
	TotalCredits usd    `json:"total_credits"`
	TotalUsage   usd    `json:"total_usage"`
	// Balance is credits − usage − outstanding reservations; it may dip
	// below zero by what the last requests' estimates undershot.
	Balance usd `json:"balance"`
	Keys    int `json:"keys"`
}

type grantObject struct {
	IdempotencyKey string `json:"idempotency_key"`
	Amount         usd    `json:"amount"`
	CreatedAt      string `json:"created_at"`
	Node           string `json:"node"`
}

type accountCredits struct {
	AccountID    string        `json:"account_id"`
	Account      string        `json:"account"`
	TotalCredits usd           `json:"total_credits"`
	TotalUsage   usd           `json:"total_usage"`
	Balance      usd           `json:"balance"`
	Grants       []grantObject `json:"grants,omitempty"`
}

type grantReply struct {
	accountCredits
	Amount         usd    `json:"amount"`
	IdempotencyKey string `json:"idempotency_key"`
}

// Admin serves the account endpoints of the admin listener.
func (a *API) Admin(ctx *fasthttp.RequestCtx) {
	status, v, e := a.admin(ctx)
	if e != nil {
		WriteError(ctx, e)
		return
	}
	if status == 0 {
		return // written by the handler (analytics may answer CSV)
	}
	if e := writeData(ctx, status, v); e != nil {
		WriteError(ctx, e)
	}
}

func (a *API) admin(ctx *fasthttp.RequestCtx) (int, any, *Error) {
	segs, ok := adminSegments(ctx.URI().PathOriginal())
	if !ok {
		return 0, nil, errNotFound
	}
	switch {
	case len(segs) == 1 && segs[0] == "accounts":
		switch {
		case ctx.IsGet():
			return a.adminListAccounts()
		case ctx.IsPost():
			return a.adminCreateAccount(ctx.PostBody())
		}
		return 0, nil, errMethod
	case len(segs) >= 2 && segs[0] == "accounts":
		acct, e := a.accountRef(segs[1])
		if e != nil {
			return 0, nil, e
		}
		switch {
		case len(segs) == 2:
			if !ctx.IsGet() {
				return 0, nil, errMethod
			}
			o, e := a.accountObjectOf(acct)
			return fasthttp.StatusOK, dataReply{o}, e
		case len(segs) == 3 && segs[2] == "credits":
			switch {
			case ctx.IsGet():
				return a.adminCredits(acct)
			case ctx.IsPost():
				return a.adminGrant(ctx, acct)
			}
			return 0, nil, errMethod
		case len(segs) == 3 && segs[2] == "keys":
			switch {
			case ctx.IsGet():
				list, e := a.listKeys(acct.ID)
				return fasthttp.StatusOK, dataReply{list}, e
			case ctx.IsPost():
				opts, e := parseKeyCreate(ctx.PostBody(), true, time.Now())
				if e != nil {
					return 0, nil, e
				}
				out, e := a.createKey(acct.ID, opts)
				return fasthttp.StatusCreated, out, e
			}
			return 0, nil, errMethod
		}
	case len(segs) == 2 && segs[0] == "keys":
		return a.keyOp(ctx, segs[1], "")
	case len(segs) == 1 && segs[0] == "generation":
		if !ctx.IsGet() {
			return 0, nil, errMethod
		}
		g, e := a.lookupGeneration(ctx)
		if e != nil {
			return 0, nil, e
		}
		return fasthttp.StatusOK, dataReply{generationObjectOf(&g)}, nil
	case len(segs) == 2 && segs[0] == "analytics" && segs[1] == "query":
		if !ctx.IsPost() {
			return 0, nil, errMethod
		}
		q, ref, e := parseAnalytics(ctx.PostBody(), time.Now().UTC())
		if e != nil {
			return 0, nil, e
		}
		if ref != "" {
			acct, e := a.accountRef(ref)
			if e != nil {
				return 0, nil, e
			}
			q.Account = acct.ID
		}
		// runAnalytics writes the response itself (JSON or CSV).
		if e := a.runAnalytics(ctx, q); e != nil {
			return 0, nil, e
		}
		return 0, nil, nil
	}
	return 0, nil, errNotFound
}

// adminSegments splits the path after /admin/v1/ into unescaped segments
// (an account name may hold any character, '/' included, once escaped).
func adminSegments(path []byte) ([]string, bool) {
	const prefix = "/admin/v1/"
	p := strings.TrimSuffix(string(path), "/")
	if !strings.HasPrefix(p, prefix) {
		return nil, false
	}
	segs := strings.Split(p[len(prefix):], "/")
	for i, s := range segs {
		u, err := url.PathUnescape(s)
		if err != nil || u == "" {
			return nil, false
		}
		segs[i] = u
	}
	return segs, true
}

// accountRef resolves an account id or name.
func (a *API) accountRef(ref string) (ledger.Account, *Error) {
	l := a.o.Ledger
	if strings.HasPrefix(ref, "acct_") {
		if acct, err := l.Account(ref); err == nil {
			return acct, nil
		}
	}
	acct, err := l.AccountByName(ref)
	switch {
	case errors.Is(err, ledger.ErrAccountNotFound):
		return acct, &Error{Status: fasthttp.StatusNotFound, Message: "no such account: " + ref}
	case err != nil:
		return acct, a.internalError("read the account", err)
	}
	return acct, nil
}

func (a *API) accountObjectOf(acct ledger.Account) (accountObject, *Error) {
	l := a.o.Ledger
	total, used, err := l.Credits(acct.ID)
	if err != nil {
		return accountObject{}, a.keyError("read credits", err)
	}
	bal, err := l.Balance(acct.ID)
	if err != nil {
		return accountObject{}, a.keyError("read the balance", err)
	}
	keys, err := l.ListKeys(acct.ID)
	if err != nil {
		return accountObject{}, a.keyError("list keys", err)
	}
	return accountObject{
		ID: acct.ID, Name: acct.Name, CreatedAt: acct.Created.UTC().Format(time.RFC3339),
		TotalCredits: usd(total), TotalUsage: usd(used), Balance: usd(bal), Keys: len(keys),
	}, nil
}

func (a *API) adminListAccounts() (int, any, *Error) {
	accts := a.o.Ledger.Accounts()
	out := make([]accountObject, 0, len(accts))
	for _, acct := range accts {
		o, e := a.accountObjectOf(acct)
		if e != nil {
			return 0, nil, e
		}
		out = append(out, o)
	}
	return fasthttp.StatusOK, dataReply{out}, nil
}

func (a *API) adminCreateAccount(body []byte) (int, any, *Error) {
	m, e := decodeObject(body)
	if e != nil {
		return 0, nil, e
	}
	name, _, e := fieldString(m, "name")
	if e != nil {
		return 0, nil, e
	}
	if strings.TrimSpace(name) == "" {
		return 0, nil, errorf(fasthttp.StatusBadRequest, "name is required")
	}
	acct, err := a.o.Ledger.CreateAccount(name)
	switch {
	case errors.Is(err, ledger.ErrAccountExists):
		return 0, nil, &Error{Status: fasthttp.StatusConflict, Message: "account " + name + " exists",
			Metadata: map[string]any{"id": acct.ID}}
	case errors.Is(err, ledger.ErrInvalidArgument):
		return 0, nil, errorf(fasthttp.StatusBadRequest, strings.TrimPrefix(err.Error(), "ledger: "))
	case err != nil:
		return 0, nil, a.internalError("create the account", err)
	}
	o, e := a.accountObjectOf(acct)
	return fasthttp.StatusCreated, dataReply{o}, e
}

func (a *API) creditsOf(acct ledger.Account) (accountCredits, *Error) {
	o, e := a.accountObjectOf(acct)
	if e != nil {
		return accountCredits{}, e
	}
	return accountCredits{AccountID: o.ID, Account: o.Name, TotalCredits: o.TotalCredits, TotalUsage: o.TotalUsage, Balance: o.Balance}, nil
}

func (a *API) adminCredits(acct ledger.Account) (int, any, *Error) {
	c, e := a.creditsOf(acct)
	if e != nil {
		return 0, nil, e
	}
	grants, err := a.o.Ledger.Grants(acct.ID)
	if err != nil {
		return 0, nil, a.keyError("read grants", err)
	}
	c.Grants = make([]grantObject, len(grants))
	for i, g := range grants {
		c.Grants[i] = grantObject{IdempotencyKey: g.IdempotencyKey, Amount: usd(g.Amount),
			CreatedAt: g.Created.UTC().Format(time.RFC3339), Node: g.Version.Node}
	}
	return fasthttp.StatusOK, dataReply{c}, nil
}

// adminGrant grants {amount} USD once per Idempotency-Key: the same key
// and amount again is a no-op 200, another amount under it a 409.
func (a *API) adminGrant(ctx *fasthttp.RequestCtx, acct ledger.Account) (int, any, *Error) {
	idem := strings.TrimSpace(string(ctx.Request.Header.Peek("Idempotency-Key")))
	if idem == "" {
		return 0, nil, errorf(fasthttp.StatusBadRequest, "the Idempotency-Key header is required: a grant retried with the same key is applied once")
	}
	m, e := decodeObject(ctx.PostBody())
	if e != nil {
		return 0, nil, e
	}
	raw, ok := m["amount"]
	if !ok || isNull(raw) {
		return 0, nil, errorf(fasthttp.StatusBadRequest, "amount is required (USD, e.g. 25 or \"25.50\")")
	}
	amount, e := fieldUSD(raw, "amount")
	if e != nil {
		return 0, nil, e
	}
	if amount <= 0 {
		return 0, nil, errorf(fasthttp.StatusBadRequest, "amount must be more than 0")
	}
	err := a.o.Ledger.Grant(acct.ID, amount, idem)
	switch {
	case errors.Is(err, ledger.ErrIdempotencyConflict):
		return 0, nil, &Error{Status: fasthttp.StatusConflict,
			Message:  "Idempotency-Key " + idem + " was already used for a grant of another amount",
			Metadata: map[string]any{"idempotency_key": idem}}
	case errors.Is(err, ledger.ErrInvalidArgument), errors.Is(err, ledger.ErrInvalidAmount):
		return 0, nil, errorf(fasthttp.StatusBadRequest, strings.TrimPrefix(err.Error(), "ledger: "))
	case err != nil:
		return 0, nil, a.keyError("grant credits", err)
	}
	c, e := a.creditsOf(acct)
	if e != nil {
		return 0, nil, e
	}
	return fasthttp.StatusOK, dataReply{grantReply{accountCredits: c, Amount: usd(amount), IdempotencyKey: idem}}, nil
}
