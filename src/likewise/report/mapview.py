"""The interactive map view: canvases drawn by inline JavaScript from inline JSON (no network, no library).

Hovering a point shows its id, label and text and rings the same record on every map; clicking a class in
the legend hides or shows it. Used by ``likewise map`` (a page of its own) and by the report (a fragment).
"""
from __future__ import annotations

import html
import json
from typing import Any

import numpy as np

from likewise.maps import MapResult
from likewise.report.figures import GREY, LABELED_ALPHA, UNLABELED_ALPHA, class_colors, panel_caption, point_radius

HOVER_TEXT_CHARS = 300

MAP_CSS = """
.lw-maps{display:flex;flex-wrap:wrap;gap:14px}
.lw-map{margin:0;border:1px solid #ddd;border-radius:6px;padding:6px;background:#fff}
.lw-map figcaption{font:13px/1.35 system-ui,sans-serif;margin:2px 2px 6px}
.lw-map .lw-stack{position:relative;width:420px;height:380px}
.lw-map canvas{position:absolute;left:0;top:0;width:420px;height:380px}
.lw-legend{font:12px system-ui,sans-serif;margin:8px 0;display:flex;flex-wrap:wrap;gap:10px}
.lw-legend span{cursor:pointer;user-select:none}
.lw-legend span.off{opacity:.35;text-decoration:line-through}
.lw-legend i{display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:4px;vertical-align:middle}
.lw-tip{position:fixed;pointer-events:none;max-width:380px;background:#222;color:#fff;padding:6px 8px;
 border-radius:4px;font:12px/1.35 system-ui,sans-serif;display:none;z-index:10;white-space:pre-wrap}
"""

MAP_JS = r"""
(function(){
 function draw(root, data){
  var W=420,H=380,PAD=10,dpr=window.devicePixelRatio||1,hidden={},views=[];
  var tip=document.createElement('div');tip.className='lw-tip';document.body.appendChild(tip);
  var legend=root.querySelector('.lw-legend');
  function colorOf(i){var c=data.labels[i];return c<0?data.grey:data.colors[c];}
  function paint(v){
   var ctx=v.base.getContext('2d');ctx.setTransform(dpr,0,0,dpr,0,0);ctx.clearRect(0,0,W,H);
   var r=data.radius,n=data.labels.length,drawn=0;
   for(var pass=0;pass<2;pass++){for(var i=0;i<n;i++){
    var c=data.labels[i];if((pass===0)!==(c<0))continue;if(c>=0&&hidden[c])continue;
    ctx.fillStyle=colorOf(i);ctx.globalAlpha=c<0?data.alpha_unlabeled:data.alpha;
    ctx.beginPath();ctx.arc(v.px[i],v.py[i],r,0,6.2832);ctx.fill();drawn++;}}
   ctx.globalAlpha=1;v.base.setAttribute('data-points-drawn',drawn);
  }
  function ring(i){views.forEach(function(v){var ctx=v.top.getContext('2d');ctx.setTransform(dpr,0,0,dpr,0,0);
   ctx.clearRect(0,0,W,H);if(i<0)return;ctx.strokeStyle='#000';ctx.lineWidth=2;ctx.beginPath();
   ctx.arc(v.px[i],v.py[i],6,0,6.2832);ctx.stroke();});}
  data.panels.forEach(function(p){
   var fig=document.createElement('figure');fig.className='lw-map';
   var cap=document.createElement('figcaption');cap.innerHTML='<b></b><br><span></span>';
   cap.querySelector('b').textContent=p.title;cap.querySelector('span').textContent=p.caption;fig.appendChild(cap);
   var stack=document.createElement('div');stack.className='lw-stack';fig.appendChild(stack);
   var base=document.createElement('canvas'),top=document.createElement('canvas');
   [base,top].forEach(function(c){c.width=W*dpr;c.height=H*dpr;stack.appendChild(c);});
   base.setAttribute('role','img');base.setAttribute('aria-label',p.title+': '+p.caption);
   var px=p.x.map(function(x){return PAD+x*(W-2*PAD);}),py=p.y.map(function(y){return H-PAD-y*(H-2*PAD);});
   var v={base:base,top:top,px:px,py:py};views.push(v);root.querySelector('.lw-maps').appendChild(fig);
   top.addEventListener('mousemove',function(e){
    var b=top.getBoundingClientRect(),mx=e.clientX-b.left,my=e.clientY-b.top,best=-1,bd=100;
    for(var i=0;i<px.length;i++){var c=data.labels[i];if(c>=0&&hidden[c])continue;
     var dx=px[i]-mx,dy=py[i]-my,d=dx*dx+dy*dy;if(d<bd){bd=d;best=i;}}
    ring(best);if(best<0){tip.style.display='none';return;}
    var c=data.labels[best];
    tip.textContent=data.ids[best]+'  ['+(c<0?'unlabeled':data.classes[c])+', '+data.roles[best]+']\n'+data.texts[best];
    tip.style.left=(e.clientX+14)+'px';tip.style.top=(e.clientY+14)+'px';tip.style.display='block';});
   top.addEventListener('mouseleave',function(){ring(-1);tip.style.display='none';});
  });
  function dot(s,color,alpha){var d=s.querySelector('i'),px=Math.max(2*data.radius,4)+'px';
   d.style.background=color;d.style.width=px;d.style.height=px;d.style.opacity=alpha;}
  data.classes.forEach(function(name,c){var s=document.createElement('span');s.innerHTML='<i></i>';
   dot(s,data.colors[c],data.alpha);s.appendChild(document.createTextNode(name));
   s.addEventListener('click',function(){hidden[c]=!hidden[c];s.classList.toggle('off');views.forEach(paint);});
   legend.appendChild(s);});
  if(data.labels.some(function(c){return c<0;})){var s=document.createElement('span');
   s.innerHTML='<i></i>unlabeled';dot(s,data.grey,data.alpha_unlabeled);legend.appendChild(s);}
  views.forEach(paint);
 }
 document.querySelectorAll('[data-lw-map]').forEach(function(root){
  var data=JSON.parse(document.getElementById(root.getAttribute('data-lw-map')).textContent);draw(root,data);});
})();
"""


def _unit(values: np.ndarray) -> list[float]:
    lo, hi = float(np.min(values)), float(np.max(values))
    scaled = (values - lo) / (hi - lo) if hi > lo else np.full(len(values), 0.5)
    return np.round(scaled, 4).tolist()


def map_data(result: MapResult) -> dict[str, Any]:
    """The JSON the script draws from: coordinates scaled to [0, 1] per map, labels as class codes (-1 grey)."""
    code = {c: i for i, c in enumerate(result.classes)}
    colors = class_colors(result.classes)
    return {
        "classes": result.classes,
        "colors": [colors[c] for c in result.classes],
        "grey": GREY,
        "radius": point_radius(len(result.ids)),
        "alpha": LABELED_ALPHA,
        "alpha_unlabeled": UNLABELED_ALPHA,
        "ids": result.ids,
        "texts": [t if len(t) <= HOVER_TEXT_CHARS else t[:HOVER_TEXT_CHARS] + "…" for t in result.texts],
        "labels": [code[lab] if lab is not None else -1 for lab in result.labels],
        "roles": result.roles,
        "panels": [{"title": p.title, "caption": panel_caption(p), "x": _unit(p.coords[:, 0]),
                    "y": _unit(p.coords[:, 1])} for p in result.panels],
    }


_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                              "\u2029": "\\u2029"})


def script_json(data: Any) -> str:
    """JSON safe inside a ``<script>`` element: ``<``, ``>``, ``&``, U+2028 and U+2029 written as ``\\uXXXX``
    escapes, so no text (``</script>``, ``<!--<script>``) can close the element or switch the HTML parser's
    script state, and the same JSON still parses to the same data.

    >>> print(script_json({"t": "</script><!--"}))
    {"t":"\\u003c/script\\u003e\\u003c!--"}
    """
    return html_safe_json(json.dumps(data, ensure_ascii=True, separators=(",", ":")))


def html_safe_json(text: str) -> str:
    """JSON text with ``<``, ``>``, ``&``, U+2028 and U+2029 as ``\\uXXXX`` escapes (valid JSON: outside
    strings JSON has none of them), safe to place where HTML could be parsed."""
    return text.translate(_SCRIPT_SAFE)


def map_fragment(result: MapResult, *, element_id: str = "lw-map-data") -> str:
    """The map view as an HTML fragment: the data, the containers and the drawing script (needs MAP_CSS)."""
    return (f'<div data-lw-map="{element_id}"><div class="lw-legend"></div><div class="lw-maps"></div></div>\n'
            f'<script type="application/json" id="{element_id}">{script_json(map_data(result))}</script>\n'
            f"<script>{MAP_JS}</script>")


def map_page(result: MapResult, *, title: str = "likewise maps") -> str:
    """A self-contained HTML page of the maps (inline data, CSS and script: opens without a network)."""
    notes = "".join(f"<p>{html.escape(n)}</p>" for n in result.notes)
    gain = result.supervised_gain()
    gain_line = ""
    if gain:
        gain_line = (f"<p>Supervised map vs {html.escape(gain['baseline'])}: "
                     f"{100 * gain['knn_accuracy']:+.1f} points of held-out kNN accuracy.</p>")
    chance = "" if result.chance is None else f" Chance (largest class): {100 * result.chance:.1f}%."
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222}}{MAP_CSS}</style></head>
<body><h1>{html.escape(title)}</h1>
<p>{html.escape(result.describe())}. Hover a point for its text; click a class to hide it.{chance}</p>
{notes}{gain_line}
{map_fragment(result)}
</body></html>
"""
