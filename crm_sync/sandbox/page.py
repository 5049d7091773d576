"""A small page: the sandbox's deals and opportunities, and a button to close one won."""

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dealreg CRM sandbox</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2rem}
th,td{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}
th{background:#f4f4f4} button{cursor:pointer} .won{color:#197a2f;font-weight:600}
.lost{color:#a32}
</style></head><body>
<h1>dealreg CRM sandbox</h1>
<p>Refreshes every two seconds. Closing a mirrored deal here sends the CRM's webhook to crm_sync;
watch the registration follow.</p>
<h2>HubSpot deals</h2>
<table id="hubspot"><thead><tr><th>id</th><th>name</th><th>stage</th><th>amount</th>
<th>registration</th><th>partner</th><th>status</th><th></th></tr></thead><tbody></tbody></table>
<h2>Salesforce opportunities</h2>
<table id="salesforce"><thead><tr><th>Id</th><th>Name</th><th>StageName</th><th>Amount</th>
<th>registration</th><th>partner</th><th>status</th><th></th></tr></thead><tbody></tbody></table>
<script>
function cell(text){const td=document.createElement('td');td.textContent=text??'';return td}
function button(label,onClick){const b=document.createElement('button');b.textContent=label;
  b.onclick=onClick;const td=document.createElement('td');td.append(b);return td}
async function move(url,stage){await fetch(url,{method:'POST',headers:{'content-type':'application/json'},
  body:JSON.stringify({stage})});load()}
async function load(){
  const hs=await (await fetch('/_sandbox/hubspot/deals')).json();
  const hbody=document.querySelector('#hubspot tbody');hbody.replaceChildren();
  for(const d of hs.filter(d=>!d.archived)){const p=d.properties;const tr=document.createElement('tr');
    const stage=cell(p.dealstage);if(p.dealstage==='closedwon')stage.className='won';
    if(p.dealstage==='closedlost')stage.className='lost';
    tr.append(cell(d.id),cell(p.dealname),stage,cell(p.amount),cell(p.dealreg_registration_id),
      cell(p.dealreg_partner_name),cell(p.dealreg_registration_status),
      button('Close won',()=>move('/_sandbox/hubspot/deals/'+d.id,'closedwon')),
      button('Close lost',()=>move('/_sandbox/hubspot/deals/'+d.id,'closedlost')));hbody.append(tr)}
  const sf=await (await fetch('/_sandbox/salesforce/opportunities')).json();
  const sbody=document.querySelector('#salesforce tbody');sbody.replaceChildren();
  for(const o of sf.filter(o=>!o.IsDeleted)){const tr=document.createElement('tr');
    tr.append(cell(o.Id),cell(o.Name),cell(o.StageName),cell(o.Amount),
      cell(o.Dealreg_Registration_Id__c),cell(o.Dealreg_Partner_Name__c),
      cell(o.Dealreg_Registration_Status__c),
      button('Close won',()=>move('/_sandbox/salesforce/opportunities/'+o.Id,'Closed Won')),
      button('Close lost',()=>move('/_sandbox/salesforce/opportunities/'+o.Id,'Closed Lost')));
    sbody.append(tr)}
}
load();setInterval(load,2000);
</script></body></html>
"""
