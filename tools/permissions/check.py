#!/usr/bin/env python3
"""Check that every AWS request the pipeline makes is allowed by the roles SAM deploys.

The template is translated by AWS's SAM translator (translate.py); each request
is judged by moto's IAM policy evaluator against its principal's translated
policies, with intrinsic functions resolved from local values. Requests the
local endpoint cannot see (the workflow's service integrations, EventBridge
starting the workflow) are derived from the translated template itself.

Usage:
  check.py TEMPLATE REQUESTS.jsonl RESOURCES.json            the check
  check.py --self-test TEMPLATE REQUESTS.jsonl RESOURCES.json  removing any used action is noticed

Exit status: 0 all allowed (self-test: every mutation noticed); 1 a request
denied (self-test: a mutation unnoticed); 2 the input is wrong.
"""

import argparse
import copy
import json
import os
import re
import sys
from collections import namedtuple

import translate

try:
    from moto.iam.access_control import IAMPolicy, PermissionResult
except ImportError as err:
    sys.exit(f'check: {err}: moto is missing for {sys.executable}; install it with: pip install "moto[server]"')

Request = namedtuple("Request", "principal action resource source")
Denial = namedtuple("Denial", "principal action resource message")


class InputError(Exception):
    """A problem with the inputs, stated with its fix."""


# ------------------------------------------------------------ intrinsics

NO_VALUE = object()  # Ref AWS::NoValue: the key or item is dropped
INTRINSICS = {"Ref", "Condition"} | {f"Fn::{n}" for n in
                                     "GetAtt Sub Join If Select Split Equals Not And Or".split()}


class Resolver:
    """Evaluates a translated template's intrinsic functions with local values.

    values maps every name a Ref can name (pseudo parameters, parameters,
    resources) to its value: a string, or for a resource an object holding
    "Ref" and its GetAtt attributes. Parameters default to the template's.
    """

    def __init__(self, template, values):
        self.values = {name: p["Default"] for name, p in template.get("Parameters", {}).items() if "Default" in p}
        self.values.update(values)
        self.conditions = template.get("Conditions", {})

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        value = self.values.get(name)
        value = value.get("Ref") if isinstance(value, dict) else value
        if value is None:
            raise InputError(f'the resources JSON has no value for Ref {name}: add "{name}": "VALUE" '
                             f'(parameter or pseudo parameter) or "{name}": {{"Ref": "VALUE", ...}} (resource)')
        return value

    def getatt(self, name, attr):
        value = self.values.get(name)
        if not isinstance(value, dict) or attr not in value:
            raise InputError(f'the resources JSON has no {attr} for {name}: add "{name}": {{"{attr}": "VALUE", ...}}')
        return value[attr]

    def sub(self, text, variables):
        def one(m):
            name = m.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                return str(self.getatt(*name.split(".", 1)))
            return str(self.ref(name))
        return re.sub(r"\$\{([^}]+)\}", one, text)

    def condition(self, name):
        if name not in self.conditions:
            raise InputError(f"the template has no condition {name}")
        return bool(self(self.conditions[name]))

    def __call__(self, node):
        if isinstance(node, list):
            return [v for v in map(self, node) if v is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1 and next(iter(node)) in INTRINSICS:
            fn, arg = next(iter(node.items()))
            return self.intrinsic(fn, arg)
        out = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def intrinsic(self, fn, arg):
        if fn == "Ref":
            return self.ref(arg)
        if fn == "Condition":
            return self.condition(arg)
        if fn == "Fn::GetAtt":
            name, attr = arg.split(".", 1) if isinstance(arg, str) else arg
            return self.getatt(name, attr)
        if fn == "Fn::Sub":
            text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self(arg[1]))
            return self.sub(text, variables)
        if fn == "Fn::If":
            return self(arg[1] if self.condition(arg[0]) else arg[2])
        arg = self(arg)
        if fn == "Fn::Join":
            return arg[0].join(str(v) for v in arg[1])
        if fn == "Fn::Select":
            return arg[1][int(arg[0])]
        if fn == "Fn::Split":
            return arg[1].split(arg[0])
        if fn == "Fn::Equals":
            return str(arg[0]) == str(arg[1])
        if fn == "Fn::Not":
            return not arg[0]
        return all(arg) if fn == "Fn::And" else any(arg)  # Fn::Or


# ------------------------------------------------------------ principals and their policies

def listify(v):
    return v if isinstance(v, list) else [v]


def role_of(template, principal):
    """The logical id of the template role a principal acts as."""
    res = template["Resources"].get(principal)
    if res is None:
        raise InputError(f"principal {principal} is not a resource of the template: record only requests "
                         f"signed with a function's logical id as the access key id")
    props = res.get("Properties", {})
    refs = {"AWS::Lambda::Function": [props.get("Role")],
            "AWS::StepFunctions::StateMachine": [props.get("RoleArn")],
            "AWS::Events::Rule": [t.get("RoleArn") for t in props.get("Targets", []) if "RoleArn" in t],
            }.get(res["Type"], [])
    roles = {r["Fn::GetAtt"][0] for r in refs if isinstance(r, dict) and "Fn::GetAtt" in r}
    if len(roles) != 1 or template["Resources"].get(next(iter(roles)), {}).get("Type") != "AWS::IAM::Role":
        raise InputError(f"principal {principal} ({res['Type']}) has no single role defined in the template")
    return roles.pop()


def policies_of(template, role, resolve):
    """A role's inline and attached policy documents, resolved, and the managed policy ARNs left unread."""
    resources = template["Resources"]
    props = resolve(resources[role]["Properties"])
    docs = [(p["PolicyName"], p["PolicyDocument"]) for p in props.get("Policies", [])]
    for lid, res in resources.items():
        if res["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and \
                {"Ref": role} in res["Properties"].get("Roles", []):
            docs.append((lid, resolve(res["Properties"]["PolicyDocument"])))
    return docs, props.get("ManagedPolicyArns", [])


# ------------------------------------------------------------ the evaluator

def glob(pattern):
    """An IAM wildcard pattern as moto's matcher must be given it.

    moto turns "*" into ".*" and reads the rest as a regular expression, so
    IAM's "?" (one character) would raise and a literal "." or "+" would be
    misread. Each literal part is escaped and "?" made ".", which moto then
    reads as IAM means it.
    """
    return "*".join(re.escape(part).replace(r"\?", ".") for part in pattern.split("*"))


def for_moto(doc, notes):
    """A policy document that moto evaluates as IAM would, as far as it can.

    IAM actions are case-insensitive, moto's are not: actions are lower-cased
    (and so are the requests'). moto cannot evaluate conditions or
    NotResource, so an Allow using them is not counted (a request that needs
    it is reported denied) and a Deny using them is taken to apply always.
    """
    out = []
    for st in listify(doc.get("Statement", [])):
        st = dict(st)
        for key in ("Action", "NotAction"):
            if key in st:
                st[key] = [glob(a.lower()) for a in listify(st[key])]
        if "Resource" not in st and "NotResource" not in st:
            raise InputError(f"statement {st.get('Sid', '?')} names no Resource: IAM rejects it, and moto would allow all")
        unmodelled = [k for k in ("Condition", "NotResource") if k in st]
        if unmodelled and st["Effect"] == "Allow":
            notes.append(f"statement {st.get('Sid', '?')} not counted: moto cannot evaluate {', '.join(unmodelled)}")
            continue
        st.pop("Condition", None)
        if st.pop("NotResource", None) is not None:
            st["Resource"] = "*"
        st["Resource"] = [glob(r) for r in listify(st["Resource"])]
        out.append(st)
    return {"Version": "2012-10-17", "Statement": out}


def verdict(docs, action, resource):
    """moto's answer over all of a role's policies: any Deny denies, one Allow is needed."""
    results = [IAMPolicy(json.dumps(doc)).is_action_permitted(action.lower(), resource) for doc in docs]
    if PermissionResult.DENIED in results:
        return "explicitly denied"
    return "allowed" if PermissionResult.PERMITTED in results else "no statement allows it"


def matched(statement, used):
    """Whether this one statement alone allows any of the used (action, resource) pairs."""
    doc = for_moto({"Statement": [statement]}, [])
    return any(verdict([doc], action, resource) == "allowed" for action, resource in used)


def unused(raw_docs, used):
    """Action and resource patterns of Allow statements that no allowed request matched."""
    actions, resources = set(), set()
    for doc in raw_docs:
        for st in listify(doc.get("Statement", [])):
            if st.get("Effect") == "Allow" and "Action" in st and "Resource" in st:
                actions |= {a for a in listify(st["Action"]) if not matched(dict(st, Action=a), used)}
                resources |= {r for r in listify(st["Resource"]) if not matched(dict(st, Resource=r), used)}
    return sorted(actions), sorted(resources)


# ------------------------------------------------------------ requests the endpoint cannot see

STATES = "arn:aws:states:::"
# Step Functions integration names whose IAM action is not the API name capitalised.
ACTIONS = {"lambda:invoke": "lambda:InvokeFunction", "s3:listObjectsV2": "s3:ListBucket",
           "s3:headObject": "s3:GetObject"}


def tasks(states):
    """Every Task state of an ASL States object, branches and Map iterators included."""
    for name, state in states.items():
        if state.get("Type") == "Task":
            yield name, state
        for branch in state.get("Branches", []) + [state.get(k) for k in ("Iterator", "ItemProcessor") if k in state]:
            yield from tasks(branch["States"])


def resource_arn(service, params, region, account, where):
    """The ARN a service integration acts on, from its Parameters."""
    for key in ("FunctionName", "TableName", "TopicArn", "QueueUrl", "StateMachineArn", "SecretId", "Bucket"):
        if key + ".$" in params:
            raise InputError(f"{where}: {key} is computed at run time ({key}.$), so the check cannot derive the "
                             f"resource; name it in the definition or record the request")
        value = params.get(key)
        if value is None:
            continue
        if value.startswith("arn:"):
            return value
        return {"FunctionName": f"arn:aws:lambda:{region}:{account}:function:{value}",
                "TableName": f"arn:aws:dynamodb:{region}:{account}:table/{value}",
                "QueueUrl": f"arn:aws:sqs:{region}:{account}:{value.rstrip('/').rsplit('/', 1)[-1]}",
                "SecretId": f"arn:aws:secretsmanager:{region}:{account}:secret:{value}",
                "Bucket": f"arn:aws:s3:::{value}" + (f"/{params['Key']}" if "Key" in params else ""),
                }.get(key, value)
    raise InputError(f"{where}: the check cannot tell which {service} resource this integration acts on")


def integration(task, region, account, where):
    """The (IAM action, resource) a Task state's integration needs of the workflow's role."""
    resource = task["Resource"]
    if resource.startswith("arn:aws:lambda:"):
        return "lambda:InvokeFunction", resource
    if not resource.startswith(STATES):
        raise InputError(f"{where}: the check cannot derive the IAM action of Resource {resource}")
    name = resource[len(STATES):].removeprefix("aws-sdk:")
    if "." in name:
        raise InputError(f"{where}: {resource} waits (.sync or .waitForTaskToken); the extra permissions "
                         f"of that pattern are not derived by this check")
    service, api = name.split(":", 1)
    action = ACTIONS.get(name, f"{service}:{api[:1].upper()}{api[1:]}")
    return action, resource_arn(service, task.get("Parameters") or task.get("Arguments") or {}, region, account, where)


def derived_requests(template, resolve):
    """The workflow's service integrations and EventBridge's StartExecution, as requests."""
    region, account = resolve({"Ref": "AWS::Region"}), resolve({"Ref": "AWS::AccountId"})
    for lid, res in template["Resources"].items():
        props = res.get("Properties", {})
        if res["Type"] == "AWS::StepFunctions::StateMachine":
            if "DefinitionString" not in props:
                raise InputError(f"{lid}: no inline definition; translate with translate.py, which inlines DefinitionUri")
            text = resolve(props["DefinitionString"])
            for key, value in resolve(props.get("DefinitionSubstitutions", {})).items():
                text = text.replace("${" + key + "}", str(value))
            for name, task in tasks(json.loads(text)["States"]):
                where = f"{lid} state {name}"
                yield Request(lid, *integration(task, region, account, where), f"state {name}")
        if res["Type"] == "AWS::Events::Rule":
            for target in props.get("Targets", []):
                arn = resolve(target["Arn"])
                if "RoleArn" in target and ":states:" in arn:
                    yield Request(lid, "states:StartExecution", arn, f"target {target['Id']}")


# ------------------------------------------------------------ the check

def provenance(sources):
    """Where a request came from: how often it was recorded, which states or targets imply it."""
    recorded = sources.count("recorded")
    derived = sorted(set(sources) - {"recorded"})
    return "; ".join(([f"recorded {recorded}x"] if recorded else []) +
                     ([f"derived from {', '.join(derived)}"] if derived else []))


def check(template, recorded, values, out=print):
    """Judge every request; print a report per principal; return the denials."""
    resolve = Resolver(template, values)
    requests = list(recorded) + list(derived_requests(template, resolve))
    principals = sorted({r.principal for r in requests} | {lid for lid, res in template["Resources"].items()
                                                           if res["Type"] == "AWS::Lambda::Function"})
    roles = {p: role_of(template, p) for p in principals}  # every principal known before any report
    denials = []
    for principal, role in roles.items():
        named, managed = policies_of(template, role, resolve)
        notes = []
        docs = [for_moto(doc, notes) for _, doc in named]
        out(f"{principal} (role {role})")
        mine = {}
        for r in requests:
            if r.principal == principal:
                mine.setdefault((r.action, r.resource), []).append(r.source)
        used = []
        for (action, resource), sources in sorted(mine.items()):
            why, source = verdict(docs, action, resource), provenance(sources)
            if why == "allowed":
                used.append((action, resource))
                out(f"  allowed  {action} on {resource}  ({source})")
                continue
            message = f"DENIED: {principal} may not {action} on {resource} (role {role}: {why}; {source})"
            denials.append(Denial(principal, action, resource, message))
            out("  " + message)
        actions, resources = unused([doc for _, doc in named], used)
        out(f"  granted, never used: actions: {', '.join(actions) or 'none'}")
        out(f"  granted, never used: resources: {', '.join(resources) or 'none'}")
        for note in notes + [f"managed policy not evaluated: {arn}" for arn in managed]:
            out(f"  note: {note}")
    out(f"check: {len(requests) - len(denials)} of {len(requests)} requests allowed" +
        (f"; {len(denials)} DENIED:" if denials else ""))
    for d in denials:
        out("  " + d.message)
    return denials


# ------------------------------------------------------------ the self-test

def strip_action(statements, action):
    """Statements without action (others kept), and whether it was there."""
    kept, removed = [], False
    for st in listify(statements):
        names = listify(st.get("Action", []))
        rest = [a for a in names if a.lower() != action.lower()]
        removed |= len(rest) < len(names)
        if rest or "Action" not in st:
            kept.append(dict(st, Action=rest) if "Action" in st else st)
    return kept, removed


def strip_policies(policies, action, statements_of):
    """A policy list without action; policies left with no statement are dropped."""
    kept, removed = [], False
    for p in listify(policies):
        doc = statements_of(p)
        if doc is None or "Statement" not in doc:
            kept.append(p)
            continue
        doc["Statement"], hit = strip_action(doc["Statement"], action)
        removed |= hit
        if doc["Statement"]:
            kept.append(p)
    return kept, removed


def mutate(sam, template_dir, params, principal, action):
    """The translated template with action removed from principal's policies.

    Removed first from the SAM template's own statements (as deleting the line
    from template.yaml would), then, after translation, from whatever still
    grants it (the expansions of SAM policy templates, SAM-made roles).
    """
    sam = copy.deepcopy(sam)
    where = []
    props = sam["Resources"].get(principal, {}).get("Properties", {})
    if "Policies" in props:
        props["Policies"], hit = strip_policies(props["Policies"], action, lambda p: p if isinstance(p, dict) else None)
        where += ["template.yaml"] if hit else []
    translated = translate.translate(sam, template_dir, params)
    role = translated["Resources"][role_of(translated, principal)]["Properties"]
    role["Policies"], hit = strip_policies(role.get("Policies", []), action, lambda p: p.get("PolicyDocument"))
    where += ["SAM's translation"] if hit else []
    return translated, where


def load(path, values):
    """The SAM template, its directory, the parameter values given, and its translation."""
    sam = translate.read_template(path)
    template_dir = os.path.dirname(os.path.abspath(path))
    params = {k: v for k, v in values.items() if k in sam.get("Parameters", {})}
    return sam, template_dir, params, translate.translate(sam, template_dir, params)


def self_test(path, recorded, values):
    """Remove each used (principal, action) in turn; each removal must make the check fail naming both."""
    sam, template_dir, params, base = load(path, values)
    if check(base, recorded, values, out=lambda _: None):
        print("self-test: the unmutated template already fails the check; run the check and fix that first")
        return False
    pairs = sorted({(r.principal, r.action) for r in recorded} |
                   {(r.principal, r.action) for r in derived_requests(base, Resolver(base, values))})
    missed = 0
    for principal, action in pairs:
        translated, where = mutate(sam, template_dir, params, principal, action)
        hits = [d for d in check(translated, recorded, values, out=lambda _: None)
                if (d.principal, d.action) == (principal, action) and principal in d.message and action in d.message]
        label = f"{principal} without {action} (removed from {' and '.join(where) or 'nowhere: no policy names it'})"
        if hits:
            print(f"noticed    {label}: {hits[0].message}")
        else:
            missed += 1
            print(f"UNNOTICED  {label}: the check still passes")
    print(f"self-test: {len(pairs) - missed} of {len(pairs)} mutations noticed")
    return missed == 0


# ------------------------------------------------------------ inputs

def read_requests(path):
    """Recorded requests, one JSON object a line: principal, action, resource."""
    out = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                r = json.loads(line)
                out.append(Request(r["principal"], r["action"], r["resource"], "recorded"))
            except (ValueError, KeyError, TypeError) as err:
                raise InputError(f"{path}:{n}: want {{\"principal\", \"action\", \"resource\"}}: {err}") from err
    return out


def read_values(path):
    """The local values of the template's names (see README.md)."""
    with open(path, encoding="utf-8") as f:
        try:
            values = json.load(f)
        except ValueError as err:
            raise InputError(f"{path}: not JSON: {err}") from err
    if not isinstance(values, dict):
        raise InputError(f"{path}: want an object of names to values")
    return values


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--self-test", action="store_true", help="prove that removing any used action is noticed")
    ap.add_argument("template")
    ap.add_argument("requests", help="recorded requests, JSON lines")
    ap.add_argument("resources", help="local values of the template's names, JSON")
    args = ap.parse_args()
    try:
        recorded = read_requests(args.requests)
        values = read_values(args.resources)
        if args.self_test:
            sys.exit(0 if self_test(args.template, recorded, values) else 1)
        sys.exit(1 if check(load(args.template, values)[3], recorded, values) else 0)
    except (InputError, OSError, ValueError) as err:
        print(f"check: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
