package dynamotest

import (
	"bytes"
	"fmt"
	"math/big"
	"reflect"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The expression language, as far as the SDK's expression builder writes
// it: conditions (comparisons, IN, BETWEEN, AND/OR/NOT, attribute_exists,
// attribute_not_exists, begins_with), key conditions, and update actions
// (SET with +, -, if_not_exists and list_append; REMOVE; ADD). Paths are
// top-level attributes.

// node is a parsed expression: an operand, a function call or an operator
// with its arguments.
type node struct {
	op   string // "name", "value", "call", "=", "AND", "IN", "BETWEEN", "+", ...
	text string // the attribute name, the value's key, the function name
	args []*node
}

type parser struct {
	toks   []string
	pos    int
	names  map[string]string
	values map[string]types.AttributeValue
	used   map[string]bool // the #names and :values the expressions refer to
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\n' || c == '\t':
			i++
		case strings.ContainsRune("(),=+-", rune(c)):
			toks = append(toks, s[i:i+1])
			i++
		case c == '<' || c == '>':
			n := 1
			if i+1 < len(s) && (s[i+1] == '=' || (c == '<' && s[i+1] == '>')) {
				n = 2
			}
			toks = append(toks, s[i:i+n])
			i += n
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \n\t(),=+-<>", rune(s[j])) {
				j++
			}
			if j == i {
				return nil, fmt.Errorf("unexpected %q in expression %q", c, s)
			}
			toks = append(toks, s[i:j])
			i = j
		}
	}
	return toks, nil
}

func (p *parser) peek() string {
	if p.pos < len(p.toks) {
		return p.toks[p.pos]
	}
	return ""
}

func (p *parser) next() string { t := p.peek(); p.pos++; return t }

func (p *parser) expect(t string) error {
	if got := p.next(); !strings.EqualFold(got, t) {
		return fmt.Errorf("expected %q, got %q", t, got)
	}
	return nil
}

func (p *parser) keyword(t string) bool {
	if strings.EqualFold(p.peek(), t) {
		p.pos++
		return true
	}
	return false
}

// condition := and {OR and}; and := not {AND not}; not := NOT not | primary
func (p *parser) condition() (*node, error) { return p.binary("OR", p.and) }
func (p *parser) and() (*node, error)       { return p.binary("AND", p.not) }

func (p *parser) binary(op string, sub func() (*node, error)) (*node, error) {
	left, err := sub()
	for err == nil && p.keyword(op) {
		var right *node
		right, err = sub()
		left = &node{op: op, args: []*node{left, right}}
	}
	return left, err
}

func (p *parser) not() (*node, error) {
	if p.keyword("NOT") {
		n, err := p.not()
		return &node{op: "NOT", args: []*node{n}}, err
	}
	return p.primary()
}

// primary := ( condition ) | function | operand comparator operand |
// operand IN ( operands ) | operand BETWEEN operand AND operand
func (p *parser) primary() (*node, error) {
	if p.peek() == "(" {
		p.next()
		n, err := p.condition()
		if err == nil {
			err = p.expect(")")
		}
		return n, err
	}
	left, err := p.operand()
	if err != nil || left.op == "call" && left.text != "size" {
		return left, err
	}
	op := strings.ToUpper(p.next())
	switch op {
	case "=", "<>", "<", "<=", ">", ">=":
		right, err := p.operand()
		return &node{op: op, args: []*node{left, right}}, err
	case "IN":
		list, err := p.arguments()
		return &node{op: op, args: append([]*node{left}, list...)}, err
	case "BETWEEN":
		lo, err := p.operand()
		if err == nil {
			err = p.expect("AND")
		}
		if err != nil {
			return nil, err
		}
		hi, err := p.operand()
		return &node{op: op, args: []*node{left, lo, hi}}, err
	}
	return nil, fmt.Errorf("expected a comparison, got %q", op)
}

// operand := #name | name | :value | function ( operands )
func (p *parser) operand() (*node, error) {
	t := p.next()
	switch {
	case t == "" || strings.ContainsAny(t[:1], "(),=+-<>"):
		return nil, fmt.Errorf("expected an operand, got %q", t)
	case p.peek() == "(":
		args, err := p.arguments()
		return &node{op: "call", text: strings.ToLower(t), args: args}, err
	case t[0] == ':':
		if _, ok := p.values[t]; !ok {
			return nil, fmt.Errorf("value %s is not defined in ExpressionAttributeValues", t)
		}
		p.used[t] = true
		return &node{op: "value", text: t}, nil
	case t[0] == '#':
		name, ok := p.names[t]
		if !ok {
			return nil, fmt.Errorf("name %s is not defined in ExpressionAttributeNames", t)
		}
		p.used[t] = true
		return &node{op: "name", text: name}, nil
	}
	return &node{op: "name", text: t}, nil
}

func (p *parser) arguments() ([]*node, error) {
	if err := p.expect("("); err != nil {
		return nil, err
	}
	var args []*node
	for {
		n, err := p.operand()
		if err != nil {
			return nil, err
		}
		args = append(args, n)
		if t := p.next(); t == ")" {
			return args, nil
		} else if t != "," {
			return nil, fmt.Errorf("expected , or ), got %q", t)
		}
	}
}

// update := {SET action {, action} | REMOVE path {, path} | ADD path value {, ...}}
func (p *parser) update() ([]*node, error) {
	var actions []*node
	for p.peek() != "" {
		clause := strings.ToUpper(p.next())
		for {
			path, err := p.operand()
			if err != nil {
				return nil, err
			}
			a := &node{op: clause, args: []*node{path}}
			switch clause {
			case "SET":
				if err := p.expect("="); err != nil {
					return nil, err
				}
				v, err := p.operand()
				if err != nil {
					return nil, err
				}
				if t := p.peek(); t == "+" || t == "-" {
					p.next()
					w, err := p.operand()
					if err != nil {
						return nil, err
					}
					v = &node{op: t, args: []*node{v, w}}
				}
				a.args = append(a.args, v)
			case "ADD", "DELETE":
				v, err := p.operand()
				if err != nil {
					return nil, err
				}
				a.args = append(a.args, v)
			case "REMOVE":
			default:
				return nil, fmt.Errorf("unknown update clause %q", clause)
			}
			actions = append(actions, a)
			if p.peek() != "," {
				break
			}
			p.next()
		}
	}
	return actions, nil
}

// projection := path {, path}
func (p *parser) projection() error {
	for p.peek() != "" {
		if _, err := p.operand(); err != nil {
			return err
		}
		if p.peek() == "," {
			p.next()
		}
	}
	return nil
}

// eval evaluates an operand or a condition against an item: a value, or
// nil for an absent attribute; conditions give a BOOL.
func (p *parser) eval(n *node, item map[string]types.AttributeValue) (types.AttributeValue, error) {
	switch n.op {
	case "name":
		return item[n.text], nil
	case "value":
		return p.values[n.text], nil
	case "call":
		if n.text == "size" && len(n.args) == 1 {
			return size(item[n.args[0].text])
		}
		ok, err := p.test(n, item)
		return &types.AttributeValueMemberBOOL{Value: ok}, err
	case "AND", "OR", "NOT", "=", "<>", "<", "<=", ">", ">=", "IN", "BETWEEN":
		ok, err := p.test(n, item)
		return &types.AttributeValueMemberBOOL{Value: ok}, err
	case "+", "-":
		a, b, err := p.pair(n, item)
		x, y := number(a), number(b)
		if err != nil || x == nil || y == nil {
			return nil, fmt.Errorf("%s needs two numbers: %v", n.op, err)
		}
		if n.op == "-" {
			y.Neg(y)
		}
		return &types.AttributeValueMemberN{Value: x.Add(x, y).Text('f', -1)}, nil
	}
	return nil, fmt.Errorf("cannot evaluate %q", n.op)
}

func (p *parser) pair(n *node, item map[string]types.AttributeValue) (types.AttributeValue, types.AttributeValue, error) {
	a, err := p.eval(n.args[0], item)
	if err != nil {
		return nil, nil, err
	}
	b, err := p.eval(n.args[1], item)
	return a, b, err
}

// test evaluates a condition.
func (p *parser) test(n *node, item map[string]types.AttributeValue) (bool, error) {
	switch n.op {
	case "AND", "OR":
		a, err := p.test(n.args[0], item)
		if err != nil || (n.op == "AND") != a {
			return a, err
		}
		return p.test(n.args[1], item)
	case "NOT":
		ok, err := p.test(n.args[0], item)
		return !ok, err
	case "call":
		return p.call(n, item)
	case "IN":
		v, err := p.eval(n.args[0], item)
		for _, c := range n.args[1:] {
			w, _ := p.eval(c, item)
			if err == nil && compare(v, w) == 0 {
				return true, nil
			}
		}
		return false, err
	case "BETWEEN":
		v, _ := p.eval(n.args[0], item)
		lo, _ := p.eval(n.args[1], item)
		hi, _ := p.eval(n.args[2], item)
		a, b := compare(v, lo), compare(v, hi)
		return a != unordered && b != unordered && a >= 0 && b <= 0, nil
	}
	a, b, err := p.pair(n, item)
	c := compare(a, b)
	switch n.op {
	case "=":
		return c == 0, err
	case "<>":
		return c != 0, err
	}
	if c == unordered {
		return false, err
	}
	switch n.op {
	case "<":
		return c < 0, err
	case "<=":
		return c <= 0, err
	case ">":
		return c > 0, err
	}
	return c >= 0, err
}

func (p *parser) call(n *node, item map[string]types.AttributeValue) (bool, error) {
	switch n.text {
	case "attribute_exists", "attribute_not_exists":
		if len(n.args) != 1 || n.args[0].op != "name" {
			return false, fmt.Errorf("%s takes one attribute", n.text)
		}
		_, ok := item[n.args[0].text]
		return ok == (n.text == "attribute_exists"), nil
	case "contains":
		a, b, err := p.pair(n, item)
		if set, ok := a.(*types.AttributeValueMemberSS); ok {
			s, _ := b.(*types.AttributeValueMemberS)
			return s != nil && slices.Contains(set.Value, s.Value), err
		}
		x, ok1 := a.(*types.AttributeValueMemberS)
		y, ok2 := b.(*types.AttributeValueMemberS)
		return ok1 && ok2 && strings.Contains(x.Value, y.Value), err
	case "begins_with":
		if len(n.args) != 2 {
			return false, fmt.Errorf("begins_with takes two operands")
		}
		a, b, err := p.pair(n, item)
		s, ok1 := a.(*types.AttributeValueMemberS)
		prefix, ok2 := b.(*types.AttributeValueMemberS)
		return ok1 && ok2 && strings.HasPrefix(s.Value, prefix.Value), err
	}
	return false, fmt.Errorf("function %s is not supported", n.text)
}

// unordered is compare's answer for values of different types, or of
// types without an order.
const unordered = 2

// compare orders two values of the same scalar type (-1, 0, 1); equal
// values of any type compare 0; anything else is unordered.
func compare(a, b types.AttributeValue) int {
	switch x := a.(type) {
	case *types.AttributeValueMemberS:
		if y, ok := b.(*types.AttributeValueMemberS); ok {
			return strings.Compare(x.Value, y.Value)
		}
	case *types.AttributeValueMemberN:
		if y, ok := b.(*types.AttributeValueMemberN); ok {
			return number(x).Cmp(number(y))
		}
	case *types.AttributeValueMemberB:
		if y, ok := b.(*types.AttributeValueMemberB); ok {
			return bytes.Compare(x.Value, y.Value)
		}
	}
	if a != nil && reflect.DeepEqual(a, b) {
		return 0
	}
	return unordered
}

func number(v types.AttributeValue) *big.Float {
	n, ok := v.(*types.AttributeValueMemberN)
	if !ok {
		return nil
	}
	f, _, err := big.ParseFloat(n.Value, 10, 200, big.ToNearestEven)
	if err != nil {
		return nil
	}
	return f
}

// apply runs update actions on item (a copy the caller owns).
func (p *parser) apply(actions []*node, item map[string]types.AttributeValue) error {
	for _, a := range actions {
		path := a.args[0]
		if path.op != "name" {
			return fmt.Errorf("%s needs an attribute path", a.op)
		}
		switch a.op {
		case "REMOVE":
			delete(item, path.text)
		case "SET":
			v, err := p.setValue(a.args[1], item)
			if err != nil {
				return err
			}
			item[path.text] = v
		case "ADD", "DELETE":
			v, err := p.eval(a.args[1], item)
			if err != nil {
				return err
			}
			if err := addOrDelete(a.op, item, path.text, v); err != nil {
				return err
			}
		}
	}
	return nil
}

// addOrDelete is ADD (a number added, set members added) or DELETE (set
// members removed; an emptied set is removed, as DynamoDB does).
func addOrDelete(op string, item map[string]types.AttributeValue, name string, v types.AttributeValue) error {
	if add, ok := v.(*types.AttributeValueMemberSS); ok {
		old, _ := item[name].(*types.AttributeValueMemberSS)
		var set []string
		if old != nil {
			set = slices.Clone(old.Value)
		}
		for _, m := range add.Value {
			switch i := slices.Index(set, m); {
			case op == "ADD" && i < 0:
				set = append(set, m)
			case op == "DELETE" && i >= 0:
				set = slices.Delete(set, i, i+1)
			}
		}
		if len(set) == 0 {
			delete(item, name)
		} else {
			item[name] = &types.AttributeValueMemberSS{Value: set}
		}
		return nil
	}
	old, ok := item[name]
	if !ok {
		old = &types.AttributeValueMemberN{Value: "0"}
	}
	x, y := number(old), number(v)
	if op != "ADD" || x == nil || y == nil {
		return fmt.Errorf("%s needs a number or a set", op)
	}
	item[name] = &types.AttributeValueMemberN{Value: x.Add(x, y).Text('f', -1)}
	return nil
}

// size is the size() of a value: a string's length, a set's or list's members.
func size(v types.AttributeValue) (types.AttributeValue, error) {
	n := 0
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		n = len(x.Value)
	case *types.AttributeValueMemberSS:
		n = len(x.Value)
	case *types.AttributeValueMemberL:
		n = len(x.Value)
	case *types.AttributeValueMemberM:
		n = len(x.Value)
	default:
		return nil, fmt.Errorf("size of an attribute that is not a string, set, list or map")
	}
	return &types.AttributeValueMemberN{Value: fmt.Sprint(n)}, nil
}

func (p *parser) setValue(n *node, item map[string]types.AttributeValue) (types.AttributeValue, error) {
	if n.op != "call" {
		return p.eval(n, item)
	}
	switch {
	case n.text == "if_not_exists" && len(n.args) == 2:
		if v, ok := item[n.args[0].text]; ok && n.args[0].op == "name" {
			return v, nil
		}
		return p.eval(n.args[1], item)
	case n.text == "list_append" && len(n.args) == 2:
		a, b, err := p.pair(n, item)
		x, ok1 := a.(*types.AttributeValueMemberL)
		y, ok2 := b.(*types.AttributeValueMemberL)
		if err != nil || !ok1 || !ok2 {
			return nil, fmt.Errorf("list_append needs two lists")
		}
		return &types.AttributeValueMemberL{Value: append(append([]types.AttributeValue{}, x.Value...), y.Value...)}, nil
	}
	return nil, fmt.Errorf("function %s is not supported in SET", n.text)
}
