"""Risk policy: YAML rules with CEL conditions turn a proposed tool call into a decision.

Policy lives outside the model: the decision depends only on the call's facts (tool
metadata, validated arguments, agent, requester, run totals), never on text the model
or a document produced.
"""
